// Streams one image from disk as ImageHeader + ImageChunk messages. Reads at most `chunkBytes` at a
// time into ONE reused buffer and awaits the sink before reading the next, so an upload holds one
// chunk whatever the file size and leaves no per-chunk garbage. Transport-agnostic: the gRPC adapter
// implements the sink.
import { open } from 'node:fs/promises';
import type { InspectRequest } from '../../common/src/generated/quicksilver/v1/InspectRequest.js';
import type { ImageHeader } from './image-header.js';

export interface InspectRequestSink {
  /**
   * Hands a message to the transport; resolves once the transport has consumed it (serialized, so
   * the caller may reuse its buffers) and can take the next one (backpressure). Rejects when the
   * stream is gone.
   */
  send(message: InspectRequest): Promise<void>;
}

export interface SendImageOptions {
  /** Largest chunk payload (CHUNK_BYTES on the wire). */
  chunkBytes: number;
  /** Aborts between chunks (the image got its answer early, or the agent is stopping). */
  signal?: AbortSignal;
  /** Observes every disk read (bytes read), for tests and metrics. */
  onRead?: (bytes: number) => void;
}

/**
 * Sends `header` then the first `header.sizeBytes` bytes of `path` in order; a zero-byte file is one
 * empty chunk with last = true. If the file shrank since it was hashed, the bytes present are sent
 * and the final chunk is marked last, so the coordinator answers with a size/checksum rejection.
 * Throws the fs error (e.g. ENOENT) before anything is sent when the file cannot be opened.
 */
export async function sendImage(sink: InspectRequestSink, header: ImageHeader, path: string, options: SendImageOptions): Promise<void> {
  const file = await open(path, 'r');
  try {
    const key = header.idempotencyKey;
    await sink.send({ header });
    const buffer = Buffer.allocUnsafe(Math.min(options.chunkBytes, header.sizeBytes));
    let offset = 0;
    for (;;) {
      options.signal?.throwIfAborted();
      const wanted = Math.min(options.chunkBytes, header.sizeBytes - offset);
      const { bytesRead } = wanted > 0 ? await file.read(buffer, 0, wanted, offset) : { bytesRead: 0 };
      options.onRead?.(bytesRead);
      const last = bytesRead === 0 || offset + bytesRead >= header.sizeBytes;
      await sink.send({ chunk: { idempotencyKey: key, offset, data: buffer.subarray(0, bytesRead), last } });
      offset += bytesRead;
      if (last) return;
    }
  } finally {
    await file.close();
  }
}
