// Original file: proto/quicksilver/v1/priority.proto

/**
 * Real-time (conveyor) work is always scheduled before bulk (re-scan) work: by the coordinator's
 * queue and credit split, and by each worker's decode queue.
 */
export const Priority = {
  /**
   * treated as PRIORITY_REALTIME
   */
  PRIORITY_UNSPECIFIED: 'PRIORITY_UNSPECIFIED',
  PRIORITY_REALTIME: 'PRIORITY_REALTIME',
  PRIORITY_BULK: 'PRIORITY_BULK',
} as const;

/**
 * Real-time (conveyor) work is always scheduled before bulk (re-scan) work: by the coordinator's
 * queue and credit split, and by each worker's decode queue.
 */
export type Priority =
  /**
   * treated as PRIORITY_REALTIME
   */
  | 'PRIORITY_UNSPECIFIED'
  | 0
  | 'PRIORITY_REALTIME'
  | 1
  | 'PRIORITY_BULK'
  | 2

/**
 * Real-time (conveyor) work is always scheduled before bulk (re-scan) work: by the coordinator's
 * queue and credit split, and by each worker's decode queue.
 */
export type Priority__Output = typeof Priority[keyof typeof Priority]
