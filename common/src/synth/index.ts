// Synthetic herbarium sheets (with and without mercury staining) for tests, the demo, training
// data and drift experiments. Seeded: the same seed and options give identical bytes.
export {
  renderSheet, sheetSvg, barcodeForSeed, sampleSeverity,
  DEFAULT_SHEET_WIDTH, DEFAULT_SHEET_HEIGHT, MAX_SHEET_SIDE, SHEET_FORMATS, SHEET_SHIFTS,
  type SheetTruth, type RenderSheetOptions, type SheetFormat, type SheetShift,
} from './sheet.js';
export {
  syntheticSheets, writeSyntheticSet, sheetSeed, isContaminated, DEFAULT_CONTAMINATED_FRACTION,
  type SyntheticSetOptions,
} from './sets.js';
export { Random, hash32 } from './random.js';
