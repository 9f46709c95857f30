// Typed errors with stable codes. Every failure that reaches a user (agent operator, API client,
// log reader) carries one of these codes; `retryable` splits transient faults from final answers.
export const ERROR_CODES = {
  // Input problems: final for that image.
  IMAGE_EMPTY: { retryable: false, grpc: 'INVALID_ARGUMENT', summary: 'the image has zero bytes' },
  IMAGE_CORRUPT: { retryable: false, grpc: 'INVALID_ARGUMENT', summary: 'the image bytes cannot be decoded' },
  UNSUPPORTED_FORMAT: { retryable: false, grpc: 'INVALID_ARGUMENT', summary: 'not a JPEG, TIFF or PNG image' },
  IMAGE_TOO_LARGE: { retryable: false, grpc: 'INVALID_ARGUMENT', summary: 'over the byte or pixel limit (decompression bomb guard)' },
  CHECKSUM_MISMATCH: { retryable: false, grpc: 'DATA_LOSS', summary: 'the bytes received do not match the declared SHA-256' },
  SIZE_MISMATCH: { retryable: false, grpc: 'INVALID_ARGUMENT', summary: 'the bytes received do not match the declared size' },
  INVALID_METADATA: { retryable: false, grpc: 'INVALID_ARGUMENT', summary: 'a header field is missing or malformed' },
  PROTOCOL_VIOLATION: { retryable: false, grpc: 'INVALID_ARGUMENT', summary: 'messages arrived out of order' },
  UNKNOWN_MODEL: { retryable: false, grpc: 'NOT_FOUND', summary: 'no worker serves the requested model' },
  // Model/config problems: the process refuses to start or to load the model.
  MODEL_CHECKSUM_MISMATCH: { retryable: false, grpc: 'FAILED_PRECONDITION', summary: 'the model file does not match its manifest' },
  MODEL_INVALID: { retryable: false, grpc: 'FAILED_PRECONDITION', summary: 'the model manifest or file is invalid' },
  CONFIG_INVALID: { retryable: false, grpc: 'INVALID_ARGUMENT', summary: 'a configuration value is invalid' },
  // Access control: the caller's credentials. Final until its configuration is fixed.
  UNAUTHENTICATED: { retryable: false, grpc: 'UNAUTHENTICATED', summary: 'no valid token or client certificate' },
  PERMISSION_DENIED: { retryable: false, grpc: 'PERMISSION_DENIED', summary: 'the credential does not allow this (other station, other role)' },
  NATS_AUTH_FAILED: { retryable: false, grpc: 'FAILED_PRECONDITION', summary: 'the NATS server refused the configured credentials' },
  // Transient faults: the same image may succeed later.
  UNAVAILABLE: { retryable: true, grpc: 'UNAVAILABLE', summary: 'the peer could not be reached' },
  TLS_HANDSHAKE_FAILED: { retryable: true, grpc: 'UNAVAILABLE', summary: 'the TLS handshake failed (untrusted or mismatched certificate)' },
  NO_WORKER: { retryable: true, grpc: 'UNAVAILABLE', summary: 'no worker was available in time' },
  WORKER_LOST: { retryable: true, grpc: 'UNAVAILABLE', summary: 'the worker went away while holding the task' },
  OVERLOADED: { retryable: true, grpc: 'RESOURCE_EXHAUSTED', summary: 'the coordinator is at its buffering limit' },
  DEADLINE_EXCEEDED: { retryable: true, grpc: 'DEADLINE_EXCEEDED', summary: 'no verdict within the task deadline' },
  INFERENCE_FAILED: { retryable: true, grpc: 'INTERNAL', summary: 'the model run failed' },
  SHUTTING_DOWN: { retryable: true, grpc: 'UNAVAILABLE', summary: 'the process is shutting down' },
  // Retryable so that it is never remembered as the image's answer: the agent sends the bytes instead.
  IMAGE_REFERENCE_UNREADABLE: { retryable: true, grpc: 'FAILED_PRECONDITION', summary: 'no worker could read the image at its reference (not mounted, outside its allowed roots, other bytes there)' },
  UPLOAD_ABORTED: { retryable: true, grpc: 'CANCELLED', summary: 'the stream ended before the image was complete' },
  INTERNAL: { retryable: true, grpc: 'INTERNAL', summary: 'an unexpected internal error' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;
export type GrpcStatusName = (typeof ERROR_CODES)[ErrorCode]['grpc'];

export class QuicksilverError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'QuicksilverError';
    this.code = code;
    this.retryable = options?.retryable ?? ERROR_CODES[code].retryable;
  }
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_CODES, value);
}

/** Normalizes anything thrown into a QuicksilverError (unknown errors become INTERNAL). */
export function toQuicksilverError(error: unknown): QuicksilverError {
  if (error instanceof QuicksilverError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new QuicksilverError('INTERNAL', message, { cause: error });
}
