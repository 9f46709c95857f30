// Original file: proto/quicksilver/v1/inspection.proto

import type { ImageHeader as _quicksilver_v1_ImageHeader, ImageHeader__Output as _quicksilver_v1_ImageHeader__Output } from '../../quicksilver/v1/ImageHeader.js';
import type { ImageChunk as _quicksilver_v1_ImageChunk, ImageChunk__Output as _quicksilver_v1_ImageChunk__Output } from '../../quicksilver/v1/ImageChunk.js';

export interface InspectRequest {
  'header'?: (_quicksilver_v1_ImageHeader | null);
  'chunk'?: (_quicksilver_v1_ImageChunk | null);
  'message'?: "header"|"chunk";
}

export interface InspectRequest__Output {
  'header'?: (_quicksilver_v1_ImageHeader__Output | null);
  'chunk'?: (_quicksilver_v1_ImageChunk__Output | null);
  'message'?: "header"|"chunk";
}
