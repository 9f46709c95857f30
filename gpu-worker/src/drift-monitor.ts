// Label-free drift per served model: PSI of the last N scores against the manifest's reference
// histogram, flag rate against the validation flag rate, and input statistics (brightness, colour
// cast, entropy) against the manifest's reference values. Gauges are computed at scrape time.
import { Gauge, type Registry } from 'prom-client';
import { imageStatistics, SlidingMean, SlidingScoreHistogram, type ImageStatistics } from '../../common/src/drift.js';
import type { ModelManifest } from '../../common/src/model-manifest.js';

const STATISTICS: readonly (keyof ImageStatistics)[] = ['brightness', 'colourCast', 'entropyBits'];
const STATISTIC_LABEL: Record<keyof ImageStatistics, string> = { brightness: 'brightness', colourCast: 'colour_cast', entropyBits: 'entropy_bits' };

interface ModelDrift {
  manifest: ModelManifest;
  scores: SlidingScoreHistogram;
  flags: SlidingMean;
  inputs: Record<keyof ImageStatistics, SlidingMean>;
}

/** "name@version", the model_version label used by every Quicksilver metric. */
export const modelVersionLabel = (manifest: Pick<ModelManifest, 'name' | 'version'>): string => `${manifest.name}@${manifest.version}`;

/** Flag rate the manifest's validation run saw: (tp + fp) / images, else the reference histogram's share at or above threshold. */
export function expectedFlagRate(manifest: ModelManifest): number {
  const confusion = manifest.validation.confusion;
  if (confusion) return (confusion.tp + confusion.fp) / (confusion.tp + confusion.fp + confusion.tn + confusion.fn);
  const { binEdges, counts } = manifest.referenceScores;
  const total = counts.reduce((a, b) => a + b, 0);
  const above = counts.reduce((sum, count, i) => sum + (binEdges[i]! >= manifest.threshold ? count : 0), 0);
  return total ? above / total : 0;
}

export class DriftMonitor {
  private readonly models = new Map<string, ModelDrift>();

  /** `windowScores`: scores (and images) in the sliding window. */
  constructor(registry: Registry, private readonly windowScores: number) {
    const registers = [registry];
    const models = this.models;
    new Gauge({
      name: 'quicksilver_drift_score_psi', help: 'Population stability index of the last window of scores against the manifest reference histogram',
      labelNames: ['model_version'], registers,
      collect() { this.reset(); for (const [id, m] of models) this.set({ model_version: id }, m.scores.psiAgainst(m.manifest.referenceScores.counts)); },
    });
    new Gauge({
      name: 'quicksilver_drift_window_scores', help: 'Scores currently in the drift window (PSI is noisy until it is full)',
      labelNames: ['model_version'], registers,
      collect() { this.reset(); for (const [id, m] of models) this.set({ model_version: id }, m.scores.size); },
    });
    new Gauge({
      name: 'quicksilver_drift_flag_rate', help: 'Share of flagged images in the last window of scores',
      labelNames: ['model_version'], registers,
      collect() { this.reset(); for (const [id, m] of models) this.set({ model_version: id }, m.flags.mean); },
    });
    new Gauge({
      name: 'quicksilver_drift_expected_flag_rate', help: 'Flag rate on the manifest validation set (expected prevalence at the threshold)',
      labelNames: ['model_version'], registers,
      collect() { this.reset(); for (const [id, m] of models) this.set({ model_version: id }, expectedFlagRate(m.manifest)); },
    });
    new Gauge({
      name: 'quicksilver_drift_input_statistic', help: 'Mean input statistic over the last window of images (brightness 0-1, colour_cast -1..1 red minus blue, entropy_bits 0-8)',
      labelNames: ['model_version', 'statistic'], registers,
      collect() {
        this.reset();
        for (const [id, m] of models) for (const key of STATISTICS) if (m.inputs[key].size > 0) this.set({ model_version: id, statistic: STATISTIC_LABEL[key] }, m.inputs[key].mean);
      },
    });
    new Gauge({
      name: 'quicksilver_drift_input_statistic_reference', help: 'Input statistic recorded in the manifest at training time',
      labelNames: ['model_version', 'statistic'], registers,
      collect() {
        this.reset();
        for (const [id, m] of models) {
          const reference = m.manifest.referenceInputs;
          if (reference) for (const key of STATISTICS) this.set({ model_version: id, statistic: STATISTIC_LABEL[key] }, reference[key]);
        }
      },
    });
  }

  track(manifest: ModelManifest): void {
    this.models.set(modelVersionLabel(manifest), {
      manifest,
      scores: new SlidingScoreHistogram(manifest.referenceScores.binEdges, this.windowScores),
      flags: new SlidingMean(this.windowScores),
      inputs: { brightness: new SlidingMean(this.windowScores), colourCast: new SlidingMean(this.windowScores), entropyBits: new SlidingMean(this.windowScores) },
    });
  }

  /** Forgets a retired version: its series leave the exposition (a stale PSI would keep its alert firing). */
  untrack(manifest: Pick<ModelManifest, 'name' | 'version'>): void {
    this.models.delete(modelVersionLabel(manifest));
  }

  observeScore(manifest: ModelManifest, score: number, flagged: boolean): void {
    const model = this.models.get(modelVersionLabel(manifest));
    if (!model) return;
    model.scores.add(score);
    model.flags.add(flagged ? 1 : 0);
  }

  /** Reads the statistics of one decoded image from its batch slot. */
  observeInput(manifest: ModelManifest, tensor: Float32Array, offset: number): void {
    const model = this.models.get(modelVersionLabel(manifest));
    if (!model) return;
    const { width, height } = manifest.preprocessing.resize;
    const stats = imageStatistics(tensor, offset, width * height, manifest.preprocessing.normalization);
    for (const key of STATISTICS) model.inputs[key].add(stats[key]);
  }
}
