import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { AttachExpress as _quicksilver_v1_AttachExpress, AttachExpress__Output as _quicksilver_v1_AttachExpress__Output } from './quicksilver/v1/AttachExpress.js';
import type { CancelTask as _quicksilver_v1_CancelTask, CancelTask__Output as _quicksilver_v1_CancelTask__Output } from './quicksilver/v1/CancelTask.js';
import type { Classification as _quicksilver_v1_Classification, Classification__Output as _quicksilver_v1_Classification__Output } from './quicksilver/v1/Classification.js';
import type { CoordinatorMessage as _quicksilver_v1_CoordinatorMessage, CoordinatorMessage__Output as _quicksilver_v1_CoordinatorMessage__Output } from './quicksilver/v1/CoordinatorMessage.js';
import type { Heartbeat as _quicksilver_v1_Heartbeat, Heartbeat__Output as _quicksilver_v1_Heartbeat__Output } from './quicksilver/v1/Heartbeat.js';
import type { ModelRef as _quicksilver_v1_ModelRef, ModelRef__Output as _quicksilver_v1_ModelRef__Output } from './quicksilver/v1/ModelRef.js';
import type { Register as _quicksilver_v1_Register, Register__Output as _quicksilver_v1_Register__Output } from './quicksilver/v1/Register.js';
import type { Registered as _quicksilver_v1_Registered, Registered__Output as _quicksilver_v1_Registered__Output } from './quicksilver/v1/Registered.js';
import type { TaskChunk as _quicksilver_v1_TaskChunk, TaskChunk__Output as _quicksilver_v1_TaskChunk__Output } from './quicksilver/v1/TaskChunk.js';
import type { TaskError as _quicksilver_v1_TaskError, TaskError__Output as _quicksilver_v1_TaskError__Output } from './quicksilver/v1/TaskError.js';
import type { TaskHeader as _quicksilver_v1_TaskHeader, TaskHeader__Output as _quicksilver_v1_TaskHeader__Output } from './quicksilver/v1/TaskHeader.js';
import type { TaskResult as _quicksilver_v1_TaskResult, TaskResult__Output as _quicksilver_v1_TaskResult__Output } from './quicksilver/v1/TaskResult.js';
import type { WorkerLinkClient as _quicksilver_v1_WorkerLinkClient, WorkerLinkDefinition as _quicksilver_v1_WorkerLinkDefinition } from './quicksilver/v1/WorkerLink.js';
import type { WorkerMessage as _quicksilver_v1_WorkerMessage, WorkerMessage__Output as _quicksilver_v1_WorkerMessage__Output } from './quicksilver/v1/WorkerMessage.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  quicksilver: {
    v1: {
      AttachExpress: MessageTypeDefinition<_quicksilver_v1_AttachExpress, _quicksilver_v1_AttachExpress__Output>
      CancelTask: MessageTypeDefinition<_quicksilver_v1_CancelTask, _quicksilver_v1_CancelTask__Output>
      Classification: MessageTypeDefinition<_quicksilver_v1_Classification, _quicksilver_v1_Classification__Output>
      CoordinatorMessage: MessageTypeDefinition<_quicksilver_v1_CoordinatorMessage, _quicksilver_v1_CoordinatorMessage__Output>
      Heartbeat: MessageTypeDefinition<_quicksilver_v1_Heartbeat, _quicksilver_v1_Heartbeat__Output>
      ModelRef: MessageTypeDefinition<_quicksilver_v1_ModelRef, _quicksilver_v1_ModelRef__Output>
      Priority: EnumTypeDefinition
      Register: MessageTypeDefinition<_quicksilver_v1_Register, _quicksilver_v1_Register__Output>
      Registered: MessageTypeDefinition<_quicksilver_v1_Registered, _quicksilver_v1_Registered__Output>
      TaskChunk: MessageTypeDefinition<_quicksilver_v1_TaskChunk, _quicksilver_v1_TaskChunk__Output>
      TaskError: MessageTypeDefinition<_quicksilver_v1_TaskError, _quicksilver_v1_TaskError__Output>
      TaskHeader: MessageTypeDefinition<_quicksilver_v1_TaskHeader, _quicksilver_v1_TaskHeader__Output>
      TaskResult: MessageTypeDefinition<_quicksilver_v1_TaskResult, _quicksilver_v1_TaskResult__Output>
      WorkerLink: SubtypeConstructor<typeof grpc.Client, _quicksilver_v1_WorkerLinkClient> & { service: _quicksilver_v1_WorkerLinkDefinition }
      WorkerMessage: MessageTypeDefinition<_quicksilver_v1_WorkerMessage, _quicksilver_v1_WorkerMessage__Output>
    }
  }
}

