import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { FeedbackClient as _quicksilver_v1_FeedbackClient, FeedbackDefinition as _quicksilver_v1_FeedbackDefinition } from './quicksilver/v1/Feedback.js';
import type { FeedbackReply as _quicksilver_v1_FeedbackReply, FeedbackReply__Output as _quicksilver_v1_FeedbackReply__Output } from './quicksilver/v1/FeedbackReply.js';
import type { FeedbackRequest as _quicksilver_v1_FeedbackRequest, FeedbackRequest__Output as _quicksilver_v1_FeedbackRequest__Output } from './quicksilver/v1/FeedbackRequest.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  quicksilver: {
    v1: {
      Feedback: SubtypeConstructor<typeof grpc.Client, _quicksilver_v1_FeedbackClient> & { service: _quicksilver_v1_FeedbackDefinition }
      FeedbackReply: MessageTypeDefinition<_quicksilver_v1_FeedbackReply, _quicksilver_v1_FeedbackReply__Output>
      FeedbackRequest: MessageTypeDefinition<_quicksilver_v1_FeedbackRequest, _quicksilver_v1_FeedbackRequest__Output>
    }
  }
}

