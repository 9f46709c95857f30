// Pure drift arithmetic shared by the worker (label-free drift) and the coordinator (accuracy drift):
// population stability index, sliding score histograms, rolling confusion counts and cheap image
// statistics. No I/O, no clocks: every function is deterministic and unit-tested.

/** Proportions below this are raised to it before PSI's logarithm (an empty bin would make PSI infinite). */
export const PSI_EPSILON = 1e-4;

/**
 * Population stability index of `actual` against `expected` (both bin counts over the same bins):
 * sum over bins of (a - e) * ln(a / e), a and e being proportions (floored at PSI_EPSILON).
 * Common reading: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 significant shift. 0 when either side is empty.
 */
export function populationStabilityIndex(expected: readonly number[], actual: readonly number[], epsilon = PSI_EPSILON): number {
  if (expected.length !== actual.length) throw new RangeError(`PSI needs equal bin counts (expected ${expected.length}, actual ${actual.length})`);
  const expectedTotal = expected.reduce((sum, count) => sum + count, 0);
  const actualTotal = actual.reduce((sum, count) => sum + count, 0);
  if (expectedTotal === 0 || actualTotal === 0) return 0;
  let psi = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.max(expected[i]! / expectedTotal, epsilon);
    const a = Math.max(actual[i]! / actualTotal, epsilon);
    psi += (a - e) * Math.log(a / e);
  }
  return psi;
}

/** Index of the bin [edges[i], edges[i+1]) holding value; the last bin is closed; values outside clamp to the end bins. */
export function binIndex(edges: readonly number[], value: number): number {
  const last = edges.length - 2;
  if (value < edges[1]!) return 0;
  if (value >= edges[last]!) return last;
  let low = 1;
  let high = last - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (value >= edges[mid]!) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** A fixed-capacity window of the most recent items (oldest evicted first). */
export class SlidingWindow<T> {
  private readonly items: T[] = [];
  private next = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`window capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.items.length;
  }

  /** Adds an item; returns the evicted one when the window was full. */
  push(item: T): T | undefined {
    if (this.items.length < this.capacity) {
      this.items.push(item);
      return undefined;
    }
    const evicted = this.items[this.next]!;
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
    return evicted;
  }
}

/** Histogram of the last `capacity` scores over fixed bin edges, with PSI against a reference. */
export class SlidingScoreHistogram {
  readonly counts: number[];
  private readonly window: SlidingWindow<number>;

  constructor(readonly binEdges: readonly number[], capacity: number) {
    this.counts = new Array<number>(binEdges.length - 1).fill(0);
    this.window = new SlidingWindow<number>(capacity);
  }

  get size(): number {
    return this.window.size;
  }

  add(score: number): void {
    const bin = binIndex(this.binEdges, score);
    this.counts[bin]!++;
    const evicted = this.window.push(bin);
    if (evicted !== undefined) this.counts[evicted]!--;
  }

  psiAgainst(referenceCounts: readonly number[]): number {
    return populationStabilityIndex(referenceCounts, this.counts);
  }
}

/** Mean of the last `capacity` values. */
export class SlidingMean {
  private readonly window: SlidingWindow<number>;
  private sum = 0;

  constructor(capacity: number) {
    this.window = new SlidingWindow<number>(capacity);
  }

  get size(): number {
    return this.window.size;
  }

  add(value: number): void {
    this.sum += value;
    const evicted = this.window.push(value);
    if (evicted !== undefined) this.sum -= evicted;
  }

  get mean(): number {
    return this.window.size === 0 ? 0 : this.sum / this.window.size;
  }
}

export type ConfusionOutcome = 'tp' | 'fp' | 'tn' | 'fn';
export const CONFUSION_OUTCOMES: readonly ConfusionOutcome[] = ['tp', 'fp', 'tn', 'fn'];
export type ConfusionCounts = Record<ConfusionOutcome, number>;

/** tp: flagged and contaminated; fp: flagged, clean; tn: not flagged, clean; fn: not flagged, contaminated (the costly miss). */
export function confusionOutcome(flagged: boolean, contaminated: boolean): ConfusionOutcome {
  if (flagged) return contaminated ? 'tp' : 'fp';
  return contaminated ? 'fn' : 'tn';
}

export interface AccuracyFigures {
  accuracy: number;
  precision: number;
  /** Sensitivity: share of contaminated sheets that were flagged. */
  recall: number;
}

/** Ratios with an empty denominator are 0 (same convention as `quicksilver evaluate`). */
export function accuracyFigures(c: ConfusionCounts): AccuracyFigures {
  const total = c.tp + c.fp + c.tn + c.fn;
  return {
    accuracy: total ? (c.tp + c.tn) / total : 0,
    precision: c.tp + c.fp ? c.tp / (c.tp + c.fp) : 0,
    recall: c.tp + c.fn ? c.tp / (c.tp + c.fn) : 0,
  };
}

/** Confusion counts over the last `capacity` feedback items. */
export class RollingConfusion {
  readonly counts: ConfusionCounts = { tp: 0, fp: 0, tn: 0, fn: 0 };
  private readonly window: SlidingWindow<ConfusionOutcome>;

  constructor(capacity: number) {
    this.window = new SlidingWindow<ConfusionOutcome>(capacity);
  }

  add(outcome: ConfusionOutcome): void {
    this.counts[outcome]++;
    const evicted = this.window.push(outcome);
    if (evicted !== undefined) this.counts[evicted]--;
  }

  get figures(): AccuracyFigures {
    return accuracyFigures(this.counts);
  }
}

export interface ImageStatistics {
  /** Mean of R, G and B over the image, 0 (black) .. 1 (white). */
  brightness: number;
  /** Mean red minus mean blue, -1 .. 1: positive = warm/yellow cast (aged paper, tungsten light). */
  colourCast: number;
  /** Shannon entropy of the 8-bit luma histogram, in bits (0 .. 8). */
  entropyBits: number;
}

/**
 * Statistics of one preprocessed image read back from its normalized CHW RGB tensor slot
 * (value = (pixel/255 - mean[c]) / std[c]), sampling every `stride`-th pixel to stay cheap.
 */
export function imageStatistics(
  tensor: Float32Array, offset: number, plane: number,
  normalization: { mean: readonly number[]; std: readonly number[] }, stride = 4,
): ImageStatistics {
  const histogram = new Float64Array(256);
  const [meanR, meanG, meanB] = normalization.mean as [number, number, number];
  const [stdR, stdG, stdB] = normalization.std as [number, number, number];
  let sumR = 0;
  let sumG = 0;
  let sumB = 0;
  let samples = 0;
  for (let i = 0; i < plane; i += stride) {
    const r = clamp01(tensor[offset + i]! * stdR + meanR);
    const g = clamp01(tensor[offset + plane + i]! * stdG + meanG);
    const b = clamp01(tensor[offset + 2 * plane + i]! * stdB + meanB);
    sumR += r;
    sumG += g;
    sumB += b;
    histogram[Math.min(255, Math.round((0.299 * r + 0.587 * g + 0.114 * b) * 255))]!++;
    samples++;
  }
  let entropy = 0;
  for (const count of histogram) {
    if (count > 0) {
      const p = count / samples;
      entropy -= p * Math.log2(p);
    }
  }
  return { brightness: (sumR + sumG + sumB) / (3 * samples), colourCast: (sumR - sumB) / samples, entropyBits: entropy };
}

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

/** PSI above which deploy/prometheus/alerts.yml raises QuicksilverScoreDrift (sampling noise with the default 500-score window is about 0.04). */
export const PSI_ALERT_THRESHOLD = 0.5;
