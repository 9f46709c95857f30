// `quicksilver evaluate`: reproduces a model card. Loads the model through loadModel() (SHA-256
// guard), regenerates its synthetic held-out split from the seed recorded in the manifest (or reads
// a folder of images with truth.jsonl), runs the served preprocessing (preprocessInto) and
// onnxruntime-node on CPU, and prints accuracy, precision, recall, F1 and the confusion matrix,
// plus whether they equal the manifest's figures (they must, exactly, on the same split).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import * as ort from 'onnxruntime-node';
import { binIndex, imageStatistics, type ImageStatistics } from '../../../common/src/drift.js';
import { QuicksilverError } from '../../../common/src/errors.js';
import { loadModel, type ModelManifest } from '../../../common/src/model-manifest.js';
import { preprocessInto } from '../../../common/src/preprocess.js';
import { syntheticSheets, type SheetTruth } from '../../../common/src/synth/index.js';
import { parseWhole } from './synth.js';

export interface Confusion { tp: number; fp: number; tn: number; fn: number }
export interface EvaluationMetrics { accuracy: number; precision: number; recall: number; f1: number; confusion: Confusion }

/** Same formulas, in the same order, as models/training/train.py, so equal counts give equal doubles. */
export function metricsFromConfusion(confusion: Confusion): EvaluationMetrics {
  const { tp, fp, tn, fn } = confusion;
  return {
    accuracy: (tp + tn) / (tp + fp + tn + fn),
    precision: tp + fp ? tp / (tp + fp) : 0,
    recall: tp + fn ? tp / (tp + fn) : 0,
    f1: tp + fp + fn ? (2 * tp) / (2 * tp + fp + fn) : 0,
    confusion,
  };
}

/** A labelled image to score. */
interface LabelledImage { name: string; bytes: Uint8Array; contaminated: boolean }

async function* imagesFromFolder(dir: string, count?: number): AsyncGenerator<LabelledImage> {
  const lines = (await readFile(join(dir, 'truth.jsonl'), 'utf8')).split('\n').filter((line) => line.trim());
  for (const line of lines.slice(0, count ?? lines.length)) {
    const truth = JSON.parse(line) as SheetTruth;
    yield { name: truth.file, bytes: await readFile(join(dir, truth.file)), contaminated: truth.contaminated };
  }
}

async function* imagesFromSplit(manifest: ModelManifest, count?: number): AsyncGenerator<LabelledImage> {
  const spec = manifest.validation.synthetic;
  if (!spec) {
    throw new QuicksilverError('MODEL_INVALID', `manifest of ${manifest.name}@${manifest.version} records no synthetic split (validation.synthetic); pass --images DIR`);
  }
  for await (const sheet of syntheticSheets({ ...spec, count: Math.min(count ?? spec.count, spec.count) })) {
    yield { name: sheet.fileName, bytes: sheet.bytes, contaminated: sheet.truth.contaminated };
  }
}

export interface EvaluationResult extends EvaluationMetrics {
  images: number;
  seconds: number;
  /** Positive-label scores binned over the manifest's referenceScores.binEdges (the label-free drift reference). */
  scoreCounts: number[];
  /** Mean input statistics (common/src/drift.ts imageStatistics) over the images. */
  inputs: ImageStatistics;
}

/** Scores every image with the model and returns the metrics at the manifest's threshold. */
export async function evaluateModel(manifestPath: string, options: { images?: string; count?: number; batch?: number; threads?: number } = {}): Promise<{ manifest: ModelManifest; result: EvaluationResult }> {
  const { manifest, modelPath } = await loadModel(manifestPath);
  if (manifest.output.kind === 'logits' && manifest.labels.length < 2) throw new QuicksilverError('MODEL_INVALID', 'need at least two labels');
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'], intraOpNumThreads: options.threads ?? 0, graphOptimizationLevel: 'all',
  });
  const started = performance.now();
  const { width, height } = manifest.preprocessing.resize;
  const imageSize = 3 * width * height;
  const batchSize = Math.max(1, options.batch ?? 16);
  const batch = new Float32Array(batchSize * imageSize);
  const positive = manifest.labels.indexOf(manifest.positiveLabel);
  const confusion: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  const scoreCounts = new Array<number>(manifest.referenceScores.binEdges.length - 1).fill(0);
  const inputs: ImageStatistics = { brightness: 0, colourCast: 0, entropyBits: 0 };
  let pending: boolean[] = [];

  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const input = new ort.Tensor('float32', batch.subarray(0, pending.length * imageSize), [pending.length, 3, height, width]);
    const output = (await session.run({ [manifest.input.name]: input }))[manifest.output.name];
    if (!output) throw new QuicksilverError('MODEL_INVALID', `model has no output named ${manifest.output.name}`);
    const values = output.data as Float32Array;
    const classes = manifest.labels.length;
    pending.forEach((contaminated, row) => {
      const logits = Array.from(values.subarray(row * classes, (row + 1) * classes));
      let score: number;
      if (manifest.output.kind === 'probabilities') {
        score = logits[positive]!;
      } else {
        const max = Math.max(...logits);
        const exps = logits.map((v) => Math.exp(v - max));
        score = exps[positive]! / exps.reduce((a, b) => a + b, 0);
      }
      scoreCounts[binIndex(manifest.referenceScores.binEdges, score)]!++;
      const flagged = score >= manifest.threshold;
      if (flagged && contaminated) confusion.tp++;
      else if (flagged) confusion.fp++;
      else if (contaminated) confusion.fn++;
      else confusion.tn++;
    });
    pending = [];
  };

  const source = options.images ? imagesFromFolder(options.images, options.count) : imagesFromSplit(manifest, options.count);
  let images = 0;
  for await (const image of source) {
    await preprocessInto(image.bytes, manifest.preprocessing, batch, pending.length * imageSize);
    const stats = imageStatistics(batch, pending.length * imageSize, width * height, manifest.preprocessing.normalization);
    for (const key of ['brightness', 'colourCast', 'entropyBits'] as const) inputs[key] += stats[key];
    pending.push(image.contaminated);
    images++;
    if (pending.length === batchSize) await flush();
  }
  await flush();
  await session.release();
  if (images === 0) throw new QuicksilverError('CONFIG_INVALID', 'no images to evaluate');
  for (const key of ['brightness', 'colourCast', 'entropyBits'] as const) inputs[key] = round6(inputs[key] / images);
  return { manifest, result: { ...metricsFromConfusion(confusion), images, seconds: (performance.now() - started) / 1000, scoreCounts, inputs } };
}

const round6 = (value: number): number => Math.round(value * 1e6) / 1e6;

/** Writes the measured drift references (score histogram, input statistics) into the manifest file. */
export async function writeDriftReference(manifestPath: string, result: EvaluationResult): Promise<void> {
  const raw = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown> & { referenceScores: { binEdges: number[]; counts: number[] } };
  raw.referenceScores.counts = result.scoreCounts;
  const ordered = Object.fromEntries(Object.entries(raw).flatMap(([key, value]) => (key === 'referenceInputs' ? [] : key === 'trainedAt'
    ? [['referenceInputs', result.inputs], [key, value]] : [[key, value]])));
  await writeFile(manifestPath, `${JSON.stringify(ordered, null, 2)}\n`);
}

/** Differences between measured and recorded figures (empty = exact match). */
export function compareWithManifest(manifest: ModelManifest, result: EvaluationResult): string[] {
  const recorded = manifest.validation;
  const differences: string[] = [];
  if (recorded.images !== result.images) differences.push(`images: manifest ${recorded.images}, measured ${result.images}`);
  for (const key of ['accuracy', 'precision', 'recall', 'f1'] as const) {
    if (recorded[key] !== result[key]) differences.push(`${key}: manifest ${recorded[key]}, measured ${result[key]}`);
  }
  const referenceCounts = manifest.referenceScores.counts;
  if (referenceCounts.join(',') !== result.scoreCounts.join(',')) differences.push(`referenceScores.counts: manifest [${referenceCounts}], measured [${result.scoreCounts}]`);
  const inputs = manifest.referenceInputs;
  if (inputs && (['brightness', 'colourCast', 'entropyBits'] as const).some((key) => inputs[key] !== result.inputs[key])) {
    differences.push(`referenceInputs: manifest ${JSON.stringify(inputs)}, measured ${JSON.stringify(result.inputs)}`);
  }
  if (recorded.confusion) {
    for (const key of ['tp', 'fp', 'tn', 'fn'] as const) {
      if (recorded.confusion[key] !== result.confusion[key]) differences.push(`${key}: manifest ${recorded.confusion[key]}, measured ${result.confusion[key]}`);
    }
  }
  return differences;
}

interface EvaluateOptions { manifest: string; count?: number; images?: string; batch: number; threads: number; writeReference?: boolean }

export function evaluateCommand(): Command {
  return new Command('evaluate')
    .description("reproduce a model card: regenerate the model's held-out synthetic split (or read --images), run the served preprocessing and ONNX Runtime, print the metrics and compare them with the manifest")
    .addOption(new Option('--manifest <file>', 'model manifest').default('models/mercury-cnn/1.0.0/manifest.json'))
    .addOption(new Option('--count <n>', 'evaluate only the first n sheets (the comparison with the manifest then does not apply)').argParser(parseWhole))
    .option('--images <dir>', 'evaluate a folder of images with truth.jsonl (from `quicksilver synth`) instead of the recorded split')
    .addOption(new Option('--batch <n>', 'inference batch size').argParser(parseWhole).default(16))
    .option('--write-reference', 'write the measured score histogram (referenceScores.counts) and input statistics (referenceInputs) into the manifest: the label-free drift references')
    .addOption(new Option('--threads <n>', 'onnxruntime intra-op threads (0 = one per core)').argParser(parseWhole).default(0))
    .action(async (options: EvaluateOptions) => {
      const { manifest, result } = await evaluateModel(options.manifest, options);
      const c = result.confusion;
      const pct = (v: number): string => `${(v * 100).toFixed(2)} %`;
      const source = options.images ? `folder ${options.images}` : `recorded split (${manifest.validation.dataset})`;
      process.stdout.write([
        `model ${manifest.name}@${manifest.version} (sha256 verified), threshold ${manifest.threshold}`,
        `images: ${result.images} from ${source}, ${result.seconds.toFixed(1)} s`,
        `accuracy  ${pct(result.accuracy)}  (${result.accuracy})`,
        `precision ${pct(result.precision)}  (${result.precision})`,
        `recall    ${pct(result.recall)}  (${result.recall})`,
        `F1        ${pct(result.f1)}  (${result.f1})`,
        'confusion matrix (rows: truth, columns: prediction)',
        `                 pred clean  pred contaminated`,
        `  clean          ${String(c.tn).padStart(10)}  ${String(c.fp).padStart(17)}`,
        `  contaminated   ${String(c.fn).padStart(10)}  ${String(c.tp).padStart(17)}`,
        `score histogram (referenceScores bins): [${result.scoreCounts}]`,
        `input statistics: brightness ${result.inputs.brightness}, colour cast ${result.inputs.colourCast}, entropy ${result.inputs.entropyBits} bits`,
        '',
      ].join('\n'));
      if (options.writeReference) {
        await writeDriftReference(options.manifest, result);
        process.stdout.write(`drift references written to ${options.manifest}\n`);
      }
      const fullSplit = !options.images && (options.count === undefined || options.count >= (manifest.validation.synthetic?.count ?? 0));
      if (!fullSplit) {
        process.stdout.write('comparison with the manifest: not applicable (not the recorded split in full)\n');
        return;
      }
      const differences = compareWithManifest(manifest, result);
      if (differences.length === 0) {
        process.stdout.write('matches the manifest: yes (every figure identical)\n');
      } else {
        process.stdout.write(`matches the manifest: NO\n  ${differences.join('\n  ')}\n`);
        process.exitCode = 1;
      }
    });
}
