// Original file: proto/quicksilver/v1/worker.proto

import type { Register as _quicksilver_v1_Register, Register__Output as _quicksilver_v1_Register__Output } from '../../quicksilver/v1/Register.js';
import type { Heartbeat as _quicksilver_v1_Heartbeat, Heartbeat__Output as _quicksilver_v1_Heartbeat__Output } from '../../quicksilver/v1/Heartbeat.js';
import type { TaskResult as _quicksilver_v1_TaskResult, TaskResult__Output as _quicksilver_v1_TaskResult__Output } from '../../quicksilver/v1/TaskResult.js';
import type { AttachExpress as _quicksilver_v1_AttachExpress, AttachExpress__Output as _quicksilver_v1_AttachExpress__Output } from '../../quicksilver/v1/AttachExpress.js';

export interface WorkerMessage {
  'register'?: (_quicksilver_v1_Register | null);
  'heartbeat'?: (_quicksilver_v1_Heartbeat | null);
  'result'?: (_quicksilver_v1_TaskResult | null);
  'attachExpress'?: (_quicksilver_v1_AttachExpress | null);
  'message'?: "register"|"heartbeat"|"result"|"attachExpress";
}

export interface WorkerMessage__Output {
  'register'?: (_quicksilver_v1_Register__Output | null);
  'heartbeat'?: (_quicksilver_v1_Heartbeat__Output | null);
  'result'?: (_quicksilver_v1_TaskResult__Output | null);
  'attachExpress'?: (_quicksilver_v1_AttachExpress__Output | null);
  'message'?: "register"|"heartbeat"|"result"|"attachExpress";
}
