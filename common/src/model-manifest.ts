// The model manifest: everything a worker needs to run a model exactly as it was trained and
// everything an operator needs to judge it. Lives beside the .onnx file (models/<name>/<version>/manifest.json).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { QuicksilverError } from './errors.js';

const probability = z.number().min(0).max(1);

/** Bounds a worker can allocate staging buffers for: batch (fixed) up to 1024 images, sides up to 4096 pixels. */
export const MAX_MANIFEST_BATCH = 1024;
export const MAX_MANIFEST_SIDE = 4096;
const side = (field: string) => z.number().int().min(1, `${field} must be at least 1`).max(MAX_MANIFEST_SIDE, `${field} must be at most ${MAX_MANIFEST_SIDE} pixels`);

export const PreprocessingSchema = z.object({
  /** Target size; the whole sheet is resized to it (aspect ratio not kept: fit "fill"). */
  resize: z.object({
    width: side('preprocessing.resize.width'),
    height: side('preprocessing.resize.height'),
    /** sharp resize kernel; training data must be made with the same one. */
    kernel: z.enum(['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3']),
    fit: z.literal('fill'),
  }),
  /** Channel order of the tensor. */
  colorOrder: z.enum(['RGB', 'BGR']),
  /** value = (pixel / 255 - mean[c]) / std[c] */
  normalization: z.object({
    mean: z.tuple([z.number(), z.number(), z.number()]),
    std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
  }),
});
export type Preprocessing = z.infer<typeof PreprocessingSchema>;

export const ModelManifestSchema = z.object({
  schemaVersion: z.literal(1),
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/),
  version: z.string().regex(/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/),
  description: z.string(),
  /** ONNX file, relative to the manifest. */
  file: z.string().min(1),
  /** Lower-case hex SHA-256 of the ONNX file; a worker refuses a file that does not match. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  input: z.object({
    name: z.string(),
    layout: z.literal('NCHW'),
    /** [batch, channels, height, width]; batch -1 = dynamic, else fixed (1..1024); sides 1..4096. */
    shape: z.tuple([
      z.number().int().refine((batch) => batch === -1 || (batch >= 1 && batch <= MAX_MANIFEST_BATCH),
        `input.shape[0] (batch) must be -1 (dynamic) or 1..${MAX_MANIFEST_BATCH}`),
      z.literal(3), side('input.shape[2] (height)'), side('input.shape[3] (width)'),
    ]),
    dtype: z.literal('float32'),
  }),
  output: z.object({
    name: z.string(),
    /** logits: softmax is applied over labels; probabilities: used as they are. */
    kind: z.enum(['logits', 'probabilities']),
  }),
  preprocessing: PreprocessingSchema,
  /** Output index i is labels[i]. */
  labels: z.array(z.string().min(1)).min(2),
  positiveLabel: z.string(),
  /** score (probability of positiveLabel) >= threshold -> positive label. */
  threshold: probability,
  validation: z.object({
    dataset: z.string(),
    images: z.number().int().positive(),
    accuracy: probability,
    precision: probability,
    recall: probability,
    f1: probability,
    /** Optional: the counts behind the ratios (positive = positiveLabel). */
    confusion: z.object({
      tp: z.number().int().nonnegative(),
      fp: z.number().int().nonnegative(),
      tn: z.number().int().nonnegative(),
      fn: z.number().int().nonnegative(),
    }).optional(),
    /** Optional: for a synthetic validation set, the `quicksilver synth` set options that regenerate it bit for bit. */
    synthetic: z.object({
      seed: z.number().int().nonnegative(),
      count: z.number().int().positive(),
      contaminatedFraction: probability,
      width: z.number().int().positive(),
      height: z.number().int().positive(),
      format: z.enum(['jpeg', 'png', 'tiff']),
      quality: z.number().int().min(1).max(100),
      shift: z.enum(['none', 'paper-tone', 'illumination']),
    }).optional(),
  }),
  /** Histogram of positive-label scores on the validation set (label-free drift reference). */
  referenceScores: z.object({
    binEdges: z.array(probability).min(2),
    counts: z.array(z.number().int().nonnegative()),
  }),
  /** Optional: mean input statistics of the validation set (common/src/drift.ts imageStatistics), for input drift. */
  referenceInputs: z.object({
    brightness: z.number().min(0).max(1),
    colourCast: z.number().min(-1).max(1),
    entropyBits: z.number().min(0).max(8),
  }).optional(),
  trainedAt: z.string(),
  modelCard: z.string().optional(),
}).refine((m) => m.labels.includes(m.positiveLabel), { message: 'positiveLabel must be one of labels', path: ['positiveLabel'] })
  .refine((m) => m.referenceScores.counts.length === m.referenceScores.binEdges.length - 1, {
    message: 'referenceScores.counts must have one entry fewer than binEdges', path: ['referenceScores'],
  })
  // Drift is measured against these bins: unordered edges mis-bin every score, all-zero counts make PSI 0 for ever.
  .refine((m) => m.referenceScores.binEdges.every((edge, i, edges) => i === 0 || edge > edges[i - 1]!), {
    message: 'referenceScores.binEdges must be strictly ascending', path: ['referenceScores', 'binEdges'],
  })
  .refine((m) => m.referenceScores.counts.some((count) => count > 0), {
    message: 'referenceScores.counts must not all be zero (the validation set\'s score histogram)', path: ['referenceScores', 'counts'],
  })
  .refine((m) => m.input.shape[2] === m.preprocessing.resize.height && m.input.shape[3] === m.preprocessing.resize.width, {
    message: 'input.shape height/width must equal preprocessing.resize', path: ['input', 'shape'],
  });
export type ModelManifest = z.infer<typeof ModelManifestSchema>;

export interface LoadedModel {
  manifest: ModelManifest;
  manifestPath: string;
  /** Absolute path of the verified ONNX file. */
  modelPath: string;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Reads and validates a manifest, then verifies the model file's SHA-256 against it. */
export async function loadModel(manifestPath: string): Promise<LoadedModel> {
  const absolute = resolve(manifestPath);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(absolute, 'utf8'));
  } catch (error) {
    throw new QuicksilverError('MODEL_INVALID', `cannot read model manifest ${absolute}: ${(error as Error).message}`);
  }
  const parsed = ModelManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new QuicksilverError('MODEL_INVALID', `model manifest ${absolute} is invalid: ${problems}`);
  }
  const manifest = parsed.data;
  if (isAbsolute(manifest.file) || manifest.file.split(/[\\/]/).includes('..')) {
    throw new QuicksilverError('MODEL_INVALID', `model manifest ${absolute}: file must be a path inside the manifest's folder`);
  }
  const modelPath = resolve(dirname(absolute), manifest.file);
  let actual: string;
  try {
    actual = await sha256File(modelPath);
  } catch (error) {
    throw new QuicksilverError('MODEL_INVALID', `cannot read model file ${modelPath}: ${(error as Error).message}`);
  }
  if (actual !== manifest.sha256) {
    throw new QuicksilverError(
      'MODEL_CHECKSUM_MISMATCH',
      `model ${manifest.name}@${manifest.version}: ${modelPath} has SHA-256 ${actual}, manifest says ${manifest.sha256}; refusing to serve it`,
    );
  }
  return { manifest, manifestPath: absolute, modelPath };
}
