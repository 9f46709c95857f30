// Sets of synthetic sheets: per-sheet seeds and labels derived from one set seed, so a set (for
// example a model's held-out test split) can be regenerated bit for bit from a few numbers.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { QuicksilverError } from '../errors.js';
import { Random, hash32 } from './random.js';
import { renderSheet, type SheetFormat, type SheetShift, type SheetTruth } from './sheet.js';

export interface SyntheticSetOptions {
  count: number;
  seed: number;
  /** Expected share of contaminated sheets (each sheet draws its label from its seed); default 0.3. */
  contaminatedFraction?: number;
  width?: number;
  height?: number;
  format?: SheetFormat;
  quality?: number;
  shift?: SheetShift;
  /** Sheets rendered ahead in parallel (sharp/librsvg work runs off the JS thread); default 2. */
  concurrency?: number;
}

export const DEFAULT_CONTAMINATED_FRACTION = 0.3;

const EXTENSIONS: Record<SheetFormat, string> = { jpeg: 'jpg', png: 'png', tiff: 'tif' };

/** Seed of sheet `index` in the set with seed `setSeed`; consecutive, so barcodes are unique within a set. */
export function sheetSeed(setSeed: number, index: number): number {
  return (hash32(setSeed >>> 0, 0x5e7) + index) >>> 0;
}

/** Whether the sheet with this seed is contaminated, for a given expected fraction. */
export function isContaminated(seed: number, contaminatedFraction: number): boolean {
  return new Random(hash32(seed >>> 0, 0xc0)).next() < contaminatedFraction;
}

function validate(options: SyntheticSetOptions): void {
  if (!Number.isInteger(options.count) || options.count < 0) {
    throw new QuicksilverError('CONFIG_INVALID', `count must be a non-negative integer, got ${options.count}`);
  }
  if (!Number.isInteger(options.seed) || options.seed < 0 || options.seed > 0xffffffff) {
    throw new QuicksilverError('CONFIG_INVALID', `seed must be an integer from 0 to 4294967295, got ${options.seed}`);
  }
  const fraction = options.contaminatedFraction ?? DEFAULT_CONTAMINATED_FRACTION;
  if (!(fraction >= 0 && fraction <= 1)) {
    throw new QuicksilverError('CONFIG_INVALID', `contaminatedFraction must be within [0, 1], got ${fraction}`);
  }
}

/** Yields the sheets of a set in order, rendering up to `concurrency` ahead. */
export async function* syntheticSheets(options: SyntheticSetOptions): AsyncGenerator<{ fileName: string; bytes: Buffer; truth: SheetTruth }> {
  validate(options);
  const fraction = options.contaminatedFraction ?? DEFAULT_CONTAMINATED_FRACTION;
  const format = options.format ?? 'jpeg';
  const concurrency = Math.max(1, options.concurrency ?? 2);
  const render = (index: number) => {
    const seed = sheetSeed(options.seed, index);
    return renderSheet({
      seed, contaminated: isContaminated(seed, fraction), width: options.width, height: options.height,
      format, quality: options.quality, shift: options.shift,
    });
  };
  const inFlight: Array<ReturnType<typeof render>> = [];
  let next = 0;
  const refill = (): void => {
    while (inFlight.length < concurrency && next < options.count) {
      const pending = render(next++);
      pending.catch(() => undefined); // surfaced when awaited below, in order
      inFlight.push(pending);
    }
  };
  refill();
  while (inFlight.length > 0) {
    const { bytes, truth } = await inFlight.shift()!;
    refill();
    const fileName = `${truth.barcode}.${EXTENSIONS[format]}`;
    yield { fileName, bytes, truth: { file: fileName, ...truth } };
  }
}

/** Writes a set's images and truth.jsonl (one SheetTruth per line) into outDir. */
export async function writeSyntheticSet(outDir: string, options: SyntheticSetOptions): Promise<SheetTruth[]> {
  await mkdir(outDir, { recursive: true });
  const truths: SheetTruth[] = [];
  for await (const sheet of syntheticSheets(options)) {
    await writeFile(join(outDir, sheet.fileName), sheet.bytes);
    truths.push(sheet.truth);
  }
  await writeFile(join(outDir, 'truth.jsonl'), truths.map((t) => JSON.stringify(t)).join('\n') + (truths.length ? '\n' : ''));
  return truths;
}
