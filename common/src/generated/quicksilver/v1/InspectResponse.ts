// Original file: proto/quicksilver/v1/inspection.proto

import type { Accepted as _quicksilver_v1_Accepted, Accepted__Output as _quicksilver_v1_Accepted__Output } from '../../quicksilver/v1/Accepted.js';
import type { Verdict as _quicksilver_v1_Verdict, Verdict__Output as _quicksilver_v1_Verdict__Output } from '../../quicksilver/v1/Verdict.js';
import type { Rejection as _quicksilver_v1_Rejection, Rejection__Output as _quicksilver_v1_Rejection__Output } from '../../quicksilver/v1/Rejection.js';

export interface InspectResponse {
  'accepted'?: (_quicksilver_v1_Accepted | null);
  'verdict'?: (_quicksilver_v1_Verdict | null);
  'rejection'?: (_quicksilver_v1_Rejection | null);
  'message'?: "accepted"|"verdict"|"rejection";
}

export interface InspectResponse__Output {
  'accepted'?: (_quicksilver_v1_Accepted__Output | null);
  'verdict'?: (_quicksilver_v1_Verdict__Output | null);
  'rejection'?: (_quicksilver_v1_Rejection__Output | null);
  'message'?: "accepted"|"verdict"|"rejection";
}
