import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Accepted as _quicksilver_v1_Accepted, Accepted__Output as _quicksilver_v1_Accepted__Output } from './quicksilver/v1/Accepted.js';
import type { ImageChunk as _quicksilver_v1_ImageChunk, ImageChunk__Output as _quicksilver_v1_ImageChunk__Output } from './quicksilver/v1/ImageChunk.js';
import type { ImageHeader as _quicksilver_v1_ImageHeader, ImageHeader__Output as _quicksilver_v1_ImageHeader__Output } from './quicksilver/v1/ImageHeader.js';
import type { InspectRequest as _quicksilver_v1_InspectRequest, InspectRequest__Output as _quicksilver_v1_InspectRequest__Output } from './quicksilver/v1/InspectRequest.js';
import type { InspectResponse as _quicksilver_v1_InspectResponse, InspectResponse__Output as _quicksilver_v1_InspectResponse__Output } from './quicksilver/v1/InspectResponse.js';
import type { InspectionClient as _quicksilver_v1_InspectionClient, InspectionDefinition as _quicksilver_v1_InspectionDefinition } from './quicksilver/v1/Inspection.js';
import type { Rejection as _quicksilver_v1_Rejection, Rejection__Output as _quicksilver_v1_Rejection__Output } from './quicksilver/v1/Rejection.js';
import type { StageTimings as _quicksilver_v1_StageTimings, StageTimings__Output as _quicksilver_v1_StageTimings__Output } from './quicksilver/v1/StageTimings.js';
import type { Verdict as _quicksilver_v1_Verdict, Verdict__Output as _quicksilver_v1_Verdict__Output } from './quicksilver/v1/Verdict.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  quicksilver: {
    v1: {
      Accepted: MessageTypeDefinition<_quicksilver_v1_Accepted, _quicksilver_v1_Accepted__Output>
      ImageChunk: MessageTypeDefinition<_quicksilver_v1_ImageChunk, _quicksilver_v1_ImageChunk__Output>
      ImageHeader: MessageTypeDefinition<_quicksilver_v1_ImageHeader, _quicksilver_v1_ImageHeader__Output>
      InspectRequest: MessageTypeDefinition<_quicksilver_v1_InspectRequest, _quicksilver_v1_InspectRequest__Output>
      InspectResponse: MessageTypeDefinition<_quicksilver_v1_InspectResponse, _quicksilver_v1_InspectResponse__Output>
      /**
       * One long-lived bidirectional stream per station. Several images may be in flight on
       * the same stream; every message names the image it belongs to by its idempotency key.
       */
      Inspection: SubtypeConstructor<typeof grpc.Client, _quicksilver_v1_InspectionClient> & { service: _quicksilver_v1_InspectionDefinition }
      Priority: EnumTypeDefinition
      Rejection: MessageTypeDefinition<_quicksilver_v1_Rejection, _quicksilver_v1_Rejection__Output>
      StageTimings: MessageTypeDefinition<_quicksilver_v1_StageTimings, _quicksilver_v1_StageTimings__Output>
      Verdict: MessageTypeDefinition<_quicksilver_v1_Verdict, _quicksilver_v1_Verdict__Output>
    }
  }
}

