// Original file: proto/quicksilver/v1/inspection.proto

/**
 * Real-time (conveyor) work is always dispatched before bulk (re-scan) work.
 */
export const Priority = {
  PRIORITY_UNSPECIFIED: 'PRIORITY_UNSPECIFIED',
  PRIORITY_REALTIME: 'PRIORITY_REALTIME',
  PRIORITY_BULK: 'PRIORITY_BULK',
} as const;

/**
 * Real-time (conveyor) work is always dispatched before bulk (re-scan) work.
 */
export type Priority =
  | 'PRIORITY_UNSPECIFIED'
  | 0
  | 'PRIORITY_REALTIME'
  | 1
  | 'PRIORITY_BULK'
  | 2

/**
 * Real-time (conveyor) work is always dispatched before bulk (re-scan) work.
 */
export type Priority__Output = typeof Priority[keyof typeof Priority]
