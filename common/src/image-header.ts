// Validation of the metadata an agent sends before an image's bytes (ImageHeader in inspection.proto).
import { z } from 'zod';

export const SUPPORTED_CONTENT_TYPES = ['image/jpeg', 'image/tiff', 'image/png'] as const;

export const ImageHeaderSchema = z.object({
  idempotencyKey: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1-128 characters of [A-Za-z0-9._:-]'),
  stationId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of [A-Za-z0-9_-]'),
  barcode: z.string().max(64).regex(/^[A-Za-z0-9 ._:/-]*$/, 'must be printable [A-Za-z0-9 ._:/-], at most 64 characters'),
  captureTime: z.string().refine((value) => !Number.isNaN(Date.parse(value)) && /^\d{4}-\d\d-\d\dT/.test(value), 'must be an RFC 3339 date-time'),
  contentType: z.enum(SUPPORTED_CONTENT_TYPES, { message: `must be one of ${SUPPORTED_CONTENT_TYPES.join(', ')}` }),
  sizeBytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex characters'),
  fileName: z.string().max(255).refine((name) => name.length > 0 && !/[\\/\0]/.test(name) && name !== '.' && name !== '..',
    'must be a plain file name without directory parts'),
  modelName: z.string().regex(/^([a-z0-9][a-z0-9._-]{0,63})?$/, 'must be empty or a model name [a-z0-9._-]'),
  priority: z.enum(['PRIORITY_UNSPECIFIED', 'PRIORITY_REALTIME', 'PRIORITY_BULK']).default('PRIORITY_UNSPECIFIED'),
  // Checked lexically here; the worker that reads it checks it against its allowed roots and URL prefixes.
  imageUri: z.string().max(4096).regex(/^(|\/[^\0]*|file:\/\/[^\0]+|https?:\/\/[^\0]+)$/i, 'must be empty, an absolute path, a file:// URL or an http(s) URL (at most 4096 characters)').default(''),
}).refine((header) => header.idempotencyKey.startsWith(`${header.stationId}:`), {
  // Keys are scoped to their station (agents use <stationId>:<sha256>), and a station may only send under its own
  // id: so one station can never have another's image answered from its cache, or its verdict dropped as a duplicate.
  path: ['idempotencyKey'], message: 'must start with the station id and a colon (<stationId>:...)',
});
export type ImageHeaderFields = z.infer<typeof ImageHeaderSchema>;

/** Returns the parsed header or a one-line description of every problem. */
export function validateImageHeader(header: unknown): { ok: true; header: ImageHeaderFields } | { ok: false; reason: string } {
  const result = ImageHeaderSchema.safeParse(header);
  if (result.success) return { ok: true, header: result.data };
  return { ok: false, reason: result.error.issues.map((i) => `${i.path.join('.') || 'header'}: ${i.message}`).join('; ') };
}

/** The dispatcher's priority class for a header's priority (unspecified = realtime). */
export const priorityClassOf = (priority: ImageHeaderFields['priority']): 'realtime' | 'bulk' => (priority === 'PRIORITY_BULK' ? 'bulk' : 'realtime');
