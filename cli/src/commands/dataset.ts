// `quicksilver dataset`: exports training tensors from synthetic sheets. Every sheet goes through
// preprocessInto() - the very function the gpu-worker serves with - using the preprocessing block
// that the trained model's manifest will carry, so training tensors equal served tensors.
//
// Output (per split): <split>.f32 (N×3×H×W float32 little-endian, NCHW), <split>.labels (uint8,
// 0 = clean, 1 = contaminated), <split>.truth.jsonl (SheetTruth per sheet, same order), and
// dataset.json (seeds, counts, sheet options, the preprocessing block).
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Command, Option } from 'commander';
import type { Preprocessing } from '../../../common/src/model-manifest.js';
import { preprocessInto } from '../../../common/src/preprocess.js';
import {
  DEFAULT_CONTAMINATED_FRACTION, DEFAULT_SHEET_HEIGHT, DEFAULT_SHEET_WIDTH, sheetSeed, syntheticSheets,
  type SheetFormat, type SheetShift,
} from '../../../common/src/synth/index.js';
import { parseFraction, parseWhole } from './synth.js';

/** The model's input contract: whole sheet to 256×256 with sharp's linear kernel, (x/255 - 0.5)/0.25. */
export const TRAINING_PREPROCESSING: Preprocessing = {
  resize: { width: 256, height: 256, kernel: 'linear', fit: 'fill' },
  colorOrder: 'RGB',
  normalization: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
};

export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];

/** Sheet options of one split: everything needed to regenerate it bit for bit. */
export interface SplitSpec {
  seed: number;
  count: number;
  contaminatedFraction: number;
  width: number;
  height: number;
  format: SheetFormat;
  quality: number;
  shift: SheetShift;
}

export interface DatasetDescription {
  version: 1;
  createdAt: string;
  generator: string;
  preprocessing: Preprocessing;
  tensor: { dtype: 'float32'; layout: 'NCHW'; byteOrder: 'little-endian'; channels: 3; height: number; width: number };
  labels: ['clean', 'contaminated'];
  splits: Record<Split, SplitSpec & { contaminated: number; files: { tensors: string; labels: string; truth: string } }>;
}

/** Split seeds: train = seed, val = seed + 1, test = seed + 2 (mod 2^32). */
export function splitSeed(seed: number, split: Split): number {
  return (seed + SPLITS.indexOf(split)) >>> 0;
}

async function write(stream: WriteStream, chunk: Uint8Array): Promise<void> {
  if (!stream.write(chunk)) await once(stream, 'drain');
}

async function close(stream: WriteStream): Promise<void> {
  await new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
}

/** Generates and preprocesses one split; returns the number of contaminated sheets. */
export async function exportSplit(outDir: string, split: Split, spec: SplitSpec, preprocessing: Preprocessing,
  concurrency: number, onProgress?: (done: number) => void): Promise<number> {
  const plane = 3 * preprocessing.resize.width * preprocessing.resize.height;
  const tensors = createWriteStream(join(outDir, `${split}.f32`));
  const labels = new Uint8Array(spec.count);
  const truthLines: string[] = [];
  const tensor = new Float32Array(plane);
  let index = 0;
  for await (const sheet of syntheticSheets({ ...spec, concurrency })) {
    await preprocessInto(sheet.bytes, preprocessing, tensor, 0);
    await write(tensors, new Uint8Array(tensor.buffer.slice(0)));
    labels[index++] = sheet.truth.contaminated ? 1 : 0;
    truthLines.push(JSON.stringify(sheet.truth));
    onProgress?.(index);
  }
  await close(tensors);
  await writeFile(join(outDir, `${split}.labels`), labels);
  await writeFile(join(outDir, `${split}.truth.jsonl`), truthLines.join('\n') + (truthLines.length ? '\n' : ''));
  return labels.reduce((sum, label) => sum + label, 0);
}

interface DatasetOptions {
  out: string;
  train: number;
  val: number;
  test: number;
  seed: number;
  contaminatedFraction: number;
  width: number;
  height: number;
  quality: number;
  concurrency: number;
}

export function datasetCommand(): Command {
  return new Command('dataset')
    .description('export train/val/test tensors from synthetic sheets, preprocessed exactly as the worker serves them')
    .requiredOption('--out <dir>', 'output folder (created if missing)')
    .addOption(new Option('--train <n>', 'training sheets').argParser(parseWhole).default(1600))
    .addOption(new Option('--val <n>', 'validation sheets (checkpoint selection)').argParser(parseWhole).default(400))
    .addOption(new Option('--test <n>', 'held-out test sheets (the model card figures)').argParser(parseWhole).default(600))
    .addOption(new Option('--seed <n>', 'base seed: train uses it, val seed+1, test seed+2').argParser(parseWhole).default(20261127))
    .addOption(new Option('--contaminated-fraction <f>', 'expected share of contaminated sheets').argParser(parseFraction).default(DEFAULT_CONTAMINATED_FRACTION))
    .addOption(new Option('--width <px>', 'sheet width in pixels').argParser(parseWhole).default(DEFAULT_SHEET_WIDTH))
    .addOption(new Option('--height <px>', 'sheet height in pixels').argParser(parseWhole).default(DEFAULT_SHEET_HEIGHT))
    .addOption(new Option('--quality <q>', 'JPEG quality of the sheets').argParser(parseWhole).default(90))
    .addOption(new Option('--concurrency <n>', 'sheets rendered in parallel').argParser(parseWhole).default(2))
    .action(async (options: DatasetOptions) => {
      if (endianness() !== 'LE') throw new Error('dataset export writes little-endian float32; this machine is big-endian');
      await mkdir(options.out, { recursive: true });
      const counts: Record<Split, number> = { train: options.train, val: options.val, test: options.test };
      const specs = Object.fromEntries(SPLITS.map((split) => [split, {
        seed: splitSeed(options.seed, split), count: counts[split], contaminatedFraction: options.contaminatedFraction,
        width: options.width, height: options.height, format: 'jpeg', quality: options.quality, shift: 'none',
      } satisfies SplitSpec])) as Record<Split, SplitSpec>;
      // Splits must not share a sheet (sheet seeds are consecutive from a hashed start per split).
      const seen = new Set<number>();
      for (const split of SPLITS) {
        for (let i = 0; i < specs[split].count; i++) {
          const seed = sheetSeed(specs[split].seed, i);
          if (seen.has(seed)) throw new Error(`sheet seed ${seed} occurs in two splits; choose another --seed`);
          seen.add(seed);
        }
      }
      const { width, height } = TRAINING_PREPROCESSING.resize;
      const description: DatasetDescription = {
        version: 1,
        createdAt: new Date().toISOString(),
        generator: 'quicksilver synth (common/src/synth), preprocessed by common/src/preprocess.ts preprocessInto()',
        preprocessing: TRAINING_PREPROCESSING,
        tensor: { dtype: 'float32', layout: 'NCHW', byteOrder: 'little-endian', channels: 3, height, width },
        labels: ['clean', 'contaminated'],
        splits: {} as DatasetDescription['splits'],
      };
      for (const split of SPLITS) {
        const started = performance.now();
        const progress = (done: number): void => {
          if (process.stderr.isTTY && (done % 50 === 0 || done === specs[split].count)) process.stderr.write(`\r${split}: ${done}/${specs[split].count}`);
        };
        const contaminated = await exportSplit(options.out, split, specs[split], TRAINING_PREPROCESSING, options.concurrency, progress);
        const seconds = (performance.now() - started) / 1000;
        process.stderr.write(`${process.stderr.isTTY ? '\r' : ''}${split}: ${specs[split].count} sheets (${contaminated} contaminated) in ${seconds.toFixed(1)} s\n`);
        description.splits[split] = {
          ...specs[split], contaminated,
          files: { tensors: `${split}.f32`, labels: `${split}.labels`, truth: `${split}.truth.jsonl` },
        };
      }
      await writeFile(join(options.out, 'dataset.json'), JSON.stringify(description, null, 2) + '\n');
      process.stdout.write(`dataset written to ${options.out}\n`);
    });
}
