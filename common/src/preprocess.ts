// The one preprocessing function: the worker, the training-data export and the golden tests all
// call it, so served tensors equal training tensors (no train/serve skew).
// Decodes with sharp (shrink-on-load for JPEG: resize follows the input directly), resizes to the
// manifest's size with its kernel, and writes normalized CHW float32 into a caller-owned tensor.
import sharp from 'sharp';
import { QuicksilverError } from './errors.js';
import { sniffImageFormat, type ImageFormat } from './image-format.js';
import type { Preprocessing } from './model-manifest.js';

export { sniffImageFormat, type ImageFormat } from './image-format.js';

export interface DecodeLimits {
  /** Largest width × height accepted (decompression-bomb guard). */
  maxInputPixels: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = { maxInputPixels: 120_000_000 };

export interface PreprocessOptions extends DecodeLimits {
  /** Called once libvips is done with the image (decoded, refused or failed), before the normalization in JS;
   *  not called when the bytes are refused before they reach libvips (empty, not an image). */
  onDecoded?: () => void;
}

export interface PreprocessResult {
  format: ImageFormat;
}

/**
 * Decodes `bytes` and writes the model input for one image into `target` starting at `offset`
 * (3 × height × width floats, CHW). Throws QuicksilverError IMAGE_EMPTY, UNSUPPORTED_FORMAT,
 * IMAGE_TOO_LARGE or IMAGE_CORRUPT.
 */
export async function preprocessInto(
  bytes: Uint8Array,
  spec: Preprocessing,
  target: Float32Array,
  offset = 0,
  options: PreprocessOptions = DEFAULT_DECODE_LIMITS,
): Promise<PreprocessResult> {
  if (bytes.length === 0) throw new QuicksilverError('IMAGE_EMPTY', 'the image has zero bytes');
  const format = sniffImageFormat(bytes);
  if (!format) {
    throw new QuicksilverError('UNSUPPORTED_FORMAT', `not a JPEG, PNG or TIFF image (first bytes ${Buffer.from(bytes.subarray(0, 8)).toString('hex')})`);
  }
  const { width: outW, height: outH, kernel } = spec.resize;
  const plane = outW * outH;
  if (offset + 3 * plane > target.length) throw new RangeError('preprocessInto: target tensor too small');

  let pixels: Buffer;
  try {
    // One pass through libvips: sharp refuses an image whose header declares more than the limit before
    // decoding it (the decompression-bomb guard); only then is the header read again to name its size.
    pixels = await sharp(bytes, { limitInputPixels: Math.max(1, Math.floor(options.maxInputPixels)), failOn: 'warning', sequentialRead: true })
      .toColourspace('srgb')
      .removeAlpha()
      .resize(outW, outH, { fit: 'fill', kernel })
      .raw()
      .toBuffer();
  } catch (error) {
    // sharp's wording for limitInputPixels: "Input image exceeds pixel limit".
    if (/exceeds pixel limit/i.test((error as Error).message)) throw await tooLarge(bytes, options.maxInputPixels);
    throw new QuicksilverError('IMAGE_CORRUPT', `cannot decode ${format} image: ${(error as Error).message}`, { cause: error });
  } finally {
    options.onDecoded?.();
  }
  if (pixels.length !== plane * 3) {
    throw new QuicksilverError('IMAGE_CORRUPT', `decoder returned ${pixels.length} bytes, expected ${plane * 3}`);
  }
  const { mean, std } = spec.normalization;
  const channelSource = spec.colorOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  for (let c = 0; c < 3; c++) {
    const src = channelSource[c]!;
    const scale = 1 / (255 * std[c]!);
    const shift = mean[c]! / std[c]!;
    const base = offset + c * plane;
    for (let i = 0, p = src; i < plane; i++, p += 3) target[base + i] = pixels[p]! * scale - shift;
  }
  return { format };
}

/** Convenience: one image into a fresh tensor of shape [1, 3, H, W]. */
export async function preprocess(bytes: Uint8Array, spec: Preprocessing, limits?: DecodeLimits): Promise<Float32Array> {
  const tensor = new Float32Array(3 * spec.resize.width * spec.resize.height);
  await preprocessInto(bytes, spec, tensor, 0, limits);
  return tensor;
}

/** The reason for an image sharp refused by its pixel limit, naming the size its header declares. */
async function tooLarge(bytes: Uint8Array, maxInputPixels: number): Promise<QuicksilverError> {
  const { width = 0, height = 0 } = await sharp(bytes, { limitInputPixels: false }).metadata().catch(() => ({ width: 0, height: 0 }));
  const limit = `${(maxInputPixels / 1e6).toFixed(1)} MP limit`;
  return new QuicksilverError('IMAGE_TOO_LARGE', width && height
    ? `image declares ${width}×${height} = ${(width * height / 1e6).toFixed(1)} MP, over the ${limit}`
    : `image declares more pixels than the ${limit}`);
}
