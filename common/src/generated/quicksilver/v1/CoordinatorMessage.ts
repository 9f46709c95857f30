// Original file: proto/quicksilver/v1/worker.proto

import type { Registered as _quicksilver_v1_Registered, Registered__Output as _quicksilver_v1_Registered__Output } from '../../quicksilver/v1/Registered.js';
import type { TaskHeader as _quicksilver_v1_TaskHeader, TaskHeader__Output as _quicksilver_v1_TaskHeader__Output } from '../../quicksilver/v1/TaskHeader.js';
import type { TaskChunk as _quicksilver_v1_TaskChunk, TaskChunk__Output as _quicksilver_v1_TaskChunk__Output } from '../../quicksilver/v1/TaskChunk.js';
import type { CancelTask as _quicksilver_v1_CancelTask, CancelTask__Output as _quicksilver_v1_CancelTask__Output } from '../../quicksilver/v1/CancelTask.js';

export interface CoordinatorMessage {
  'registered'?: (_quicksilver_v1_Registered | null);
  'task'?: (_quicksilver_v1_TaskHeader | null);
  'chunk'?: (_quicksilver_v1_TaskChunk | null);
  'cancel'?: (_quicksilver_v1_CancelTask | null);
  'message'?: "registered"|"task"|"chunk"|"cancel";
}

export interface CoordinatorMessage__Output {
  'registered'?: (_quicksilver_v1_Registered__Output | null);
  'task'?: (_quicksilver_v1_TaskHeader__Output | null);
  'chunk'?: (_quicksilver_v1_TaskChunk__Output | null);
  'cancel'?: (_quicksilver_v1_CancelTask__Output | null);
  'message'?: "registered"|"task"|"chunk"|"cancel";
}
