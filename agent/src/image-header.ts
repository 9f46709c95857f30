// Builds the ImageHeader of a file on disk: one streaming pass computes the SHA-256 and sniffs the
// format from the first bytes, so memory stays small whatever the image size.
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import type { ImageHeader__Output as ImageHeader } from '../../common/src/generated/quicksilver/v1/ImageHeader.js';
import { sniffImageFormat, type ImageFormat } from '../../common/src/image-format.js';
import { barcodeFromFileName } from './barcode.js';

export type { ImageHeader };

const CONTENT_TYPES: Record<ImageFormat, string> = { jpeg: 'image/jpeg', png: 'image/png', tiff: 'image/tiff' };
const EXTENSION_FORMATS: Record<string, ImageFormat> = { '.jpg': 'jpeg', '.jpeg': 'jpeg', '.png': 'png', '.tif': 'tiff', '.tiff': 'tiff' };

/** True for the extensions the agent uploads (.jpg .jpeg .tif .tiff .png, any case). */
export function isSupportedImageName(fileName: string): boolean {
  return Object.hasOwn(EXTENSION_FORMATS, extname(fileName).toLowerCase());
}

/** The idempotency key: stable across restarts, so a resend of the same bytes dedupes. */
export function idempotencyKeyFor(stationId: string, sha256: string): string {
  return `${stationId}:${sha256}`;
}

/** Content type from magic bytes, falling back to the extension ('' when neither is known). */
export function contentTypeFor(firstBytes: Uint8Array, fileName: string): string {
  const format = sniffImageFormat(firstBytes) ?? EXTENSION_FORMATS[extname(fileName).toLowerCase()];
  return format ? CONTENT_TYPES[format] : '';
}

/**
 * SHA-256 (lower-case hex), size and first bytes of a file, in one streaming pass through a single
 * reused buffer (a fresh buffer per read would leave the whole file as garbage for the GC).
 */
export async function hashFile(path: string, bufferBytes = 256 * 1024): Promise<{ sha256: string; sizeBytes: number; head: Buffer }> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(bufferBytes);
  const file = await open(path, 'r');
  try {
    let sizeBytes = 0;
    let head = Buffer.alloc(0);
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, bufferBytes, sizeBytes);
      if (bytesRead === 0) return { sha256: hash.digest('hex'), sizeBytes, head };
      hash.update(buffer.subarray(0, bytesRead));
      if (sizeBytes === 0) head = Buffer.from(buffer.subarray(0, Math.min(16, bytesRead)));
      sizeBytes += bytesRead;
    }
  } finally {
    await file.close();
  }
}

export async function describeImageFile(path: string, station: { stationId: string; modelName: string }): Promise<ImageHeader> {
  const { mtime } = await stat(path);
  const { sha256, sizeBytes, head } = await hashFile(path);
  const fileName = basename(path);
  return {
    idempotencyKey: idempotencyKeyFor(station.stationId, sha256),
    stationId: station.stationId,
    barcode: barcodeFromFileName(fileName),
    captureTime: mtime.toISOString(),
    contentType: contentTypeFor(head, fileName),
    sizeBytes,
    sha256,
    fileName,
    modelName: station.modelName,
    // A station's conveyor waits for its flag: always real-time work.
    priority: 'PRIORITY_REALTIME',
    // Sent by reference or not is decided per send (agent spoolUriPrefix), not stored with the image.
    imageUri: '',
  };
}
