// `quicksilver synth`: writes a seeded set of synthetic herbarium sheets and truth.jsonl.
import { Command, Option } from 'commander';
import {
  DEFAULT_CONTAMINATED_FRACTION, DEFAULT_SHEET_HEIGHT, DEFAULT_SHEET_WIDTH, SHEET_FORMATS, SHEET_SHIFTS,
  writeSyntheticSet, type SheetFormat, type SheetShift,
} from '../../../common/src/synth/index.js';

export { parseFraction, parseWhole } from '../../../common/src/cli-options.js';
import { parseFraction, parseWhole } from '../../../common/src/cli-options.js';

interface SynthOptions {
  out: string;
  count: number;
  seed: number;
  contaminatedFraction: number;
  width: number;
  height: number;
  format: SheetFormat;
  quality: number;
  shift: SheetShift;
  concurrency: number;
}

export function synthCommand(): Command {
  return new Command('synth')
    .description('write seeded synthetic herbarium sheets (with and without mercury staining) and their truth.jsonl')
    .requiredOption('--out <dir>', 'output folder (created if missing)')
    .addOption(new Option('--count <n>', 'number of sheets').argParser(parseWhole).default(20))
    .addOption(new Option('--seed <n>', 'set seed: same seed and options give identical files').argParser(parseWhole).default(1))
    .addOption(new Option('--contaminated-fraction <f>', 'expected share of contaminated sheets').argParser(parseFraction).default(DEFAULT_CONTAMINATED_FRACTION))
    .addOption(new Option('--width <px>', 'sheet width in pixels (real masters ~6700)').argParser(parseWhole).default(DEFAULT_SHEET_WIDTH))
    .addOption(new Option('--height <px>', 'sheet height in pixels (real masters ~9000)').argParser(parseWhole).default(DEFAULT_SHEET_HEIGHT))
    .addOption(new Option('--format <format>', 'image format').choices(SHEET_FORMATS).default('jpeg'))
    .addOption(new Option('--quality <q>', 'JPEG quality').argParser(parseWhole).default(90))
    .addOption(new Option('--shift <shift>', 'acquisition drift: paper tone or illumination differs from the training sheets').choices(SHEET_SHIFTS).default('none'))
    .addOption(new Option('--concurrency <n>', 'sheets rendered in parallel').argParser(parseWhole).default(2))
    .action(async (options: SynthOptions) => {
      const started = performance.now();
      const truths = await writeSyntheticSet(options.out, options);
      const seconds = (performance.now() - started) / 1000;
      const contaminated = truths.filter((t) => t.contaminated).length;
      process.stdout.write(`wrote ${truths.length} sheets (${contaminated} contaminated) and truth.jsonl to ${options.out} `
        + `in ${seconds.toFixed(1)} s (${((seconds * 1000) / Math.max(1, truths.length)).toFixed(0)} ms per sheet)\n`);
    });
}
