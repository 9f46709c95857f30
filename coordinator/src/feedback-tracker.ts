// Joins curator feedback (ground truth) to the verdict it judges and keeps accuracy drift figures
// per model version and station: counters of tp/fp/tn/fn, and accuracy, precision, recall and
// confusion counts over the last `windowSize` feedback items (gauges, computed at scrape time).
// Verdicts are found in a bounded index of recent verdicts, filled by this coordinator as it
// publishes and warmed at start from the JetStream verdict history (see adapters/nats-feedback.ts).
import { Counter, Gauge, type Registry } from 'prom-client';
import { CONFUSION_OUTCOMES, confusionOutcome, RollingConfusion } from '../../common/src/drift.js';
import { FeedbackEventSchema, type FeedbackReply, type FeedbackRejectionReason } from '../../common/src/feedback.js';
import type { Logger } from '../../common/src/logger.js';
import type { VerdictEvent } from '../../common/src/verdict-event.js';

/** What feedback needs of a verdict. */
export interface IndexedVerdict {
  idempotencyKey: string;
  barcode: string;
  stationId: string;
  flagged: boolean;
  /** "name@version" */
  modelVersion: string;
  /** RFC 3339 time of the verdict: feedback by barcode judges the latest one. */
  decidedAt: string;
}

export const indexedVerdictOf = (event: VerdictEvent): IndexedVerdict => ({
  idempotencyKey: event.idempotencyKey, barcode: event.barcode, stationId: event.stationId, flagged: event.flagged,
  modelVersion: `${event.model.name}@${event.model.version}`, decidedAt: event.decidedAt,
});

export interface FeedbackTrackerOptions {
  registry: Registry;
  logger: Logger;
  /** Feedback items per (model version, station) in the rolling accuracy window. */
  windowSize: number;
  /** Verdicts remembered for joining (oldest forgotten first). */
  indexSize: number;
}

export class FeedbackTracker {
  private readonly byKey = new Map<string, IndexedVerdict>();
  private readonly keyByBarcode = new Map<string, string>();
  private readonly judged = new Set<string>();
  private readonly windows = new Map<string, { modelVersion: string; station: string; rolling: RollingConfusion }>();
  private readonly feedbackTotal: Counter<'model_version' | 'station' | 'outcome'>;
  private readonly rejectedTotal: Counter<'reason'>;

  constructor(private readonly options: FeedbackTrackerOptions) {
    const registers = [options.registry];
    const windows = this.windows;
    this.feedbackTotal = new Counter({
      name: 'quicksilver_feedback_total', help: 'Ground-truth feedback joined to a verdict, by confusion outcome (tp, fp, tn, fn)',
      labelNames: ['model_version', 'station', 'outcome'], registers,
    });
    this.rejectedTotal = new Counter({
      name: 'quicksilver_feedback_rejected_total', help: 'Feedback refused: invalid_json, invalid_schema, unknown_verdict, duplicate',
      labelNames: ['reason'], registers,
    });
    for (const reason of ['invalid_json', 'invalid_schema', 'unknown_verdict', 'duplicate'] as const) this.rejectedTotal.inc({ reason }, 0);
    new Gauge({
      name: 'quicksilver_feedback_window_items', help: 'Feedback items in the rolling accuracy window, by outcome',
      labelNames: ['model_version', 'station', 'outcome'], registers,
      collect() {
        for (const w of windows.values()) for (const outcome of CONFUSION_OUTCOMES) this.set({ model_version: w.modelVersion, station: w.station, outcome }, w.rolling.counts[outcome]);
      },
    });
    const figure = (name: string, help: string, pick: 'accuracy' | 'precision' | 'recall') => new Gauge({
      name, help, labelNames: ['model_version', 'station'], registers,
      collect() { for (const w of windows.values()) this.set({ model_version: w.modelVersion, station: w.station }, w.rolling.figures[pick]); },
    });
    figure('quicksilver_feedback_accuracy', 'Rolling accuracy over the feedback window: (tp + tn) / items', 'accuracy');
    figure('quicksilver_feedback_precision', 'Rolling precision over the feedback window: tp / (tp + fp), 0 when no flags', 'precision');
    figure('quicksilver_feedback_recall', 'Rolling recall (sensitivity) over the feedback window: tp / (tp + fn), 0 when no contaminated sheets', 'recall');
  }

  /**
   * Remembers a verdict so feedback can find it. A barcode points to its latest verdict by decision time,
   * whatever the order of arrival (the history replayed at start may come after a live verdict).
   */
  recordVerdict(verdict: IndexedVerdict): void {
    this.byKey.delete(verdict.idempotencyKey);
    this.byKey.set(verdict.idempotencyKey, verdict);
    const current = verdict.barcode ? this.byKey.get(this.keyByBarcode.get(verdict.barcode) ?? '') : undefined;
    if (verdict.barcode && (!current || Date.parse(current.decidedAt) <= Date.parse(verdict.decidedAt))) {
      this.keyByBarcode.set(verdict.barcode, verdict.idempotencyKey);
    }
    while (this.byKey.size > this.options.indexSize) {
      const [oldestKey, oldest] = this.byKey.entries().next().value!;
      this.byKey.delete(oldestKey);
      if (this.keyByBarcode.get(oldest.barcode) === oldestKey) this.keyByBarcode.delete(oldest.barcode);
      this.judged.delete(oldestKey);
    }
  }

  get indexedVerdicts(): number {
    return this.byKey.size;
  }

  /** Parses raw NATS bytes as feedback JSON and submits it. */
  submitJson(text: string): FeedbackReply {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      return this.reject('invalid_json', `feedback is not JSON: ${(error as Error).message}`);
    }
    return this.submit(raw);
  }

  /** Validates feedback, joins it to its verdict and counts it; never throws. */
  submit(raw: unknown): FeedbackReply {
    const parsed = FeedbackEventSchema.safeParse(raw);
    if (!parsed.success) {
      return this.reject('invalid_schema', parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
    }
    const feedback = parsed.data;
    const key = feedback.idempotencyKey || this.keyByBarcode.get(feedback.barcode);
    const verdict = key ? this.byKey.get(key) : undefined;
    if (!verdict) {
      const what = feedback.idempotencyKey ? `idempotency key ${feedback.idempotencyKey}` : `barcode ${feedback.barcode}`;
      return this.reject('unknown_verdict', `no verdict known for ${what} (the index holds the last ${this.options.indexSize} verdicts)`);
    }
    if (this.judged.has(verdict.idempotencyKey)) {
      return this.reject('duplicate', `the verdict for ${verdict.idempotencyKey} already has feedback`);
    }
    this.judged.add(verdict.idempotencyKey);
    const outcome = confusionOutcome(verdict.flagged, feedback.contaminated);
    const windowKey = `${verdict.modelVersion}\u0000${verdict.stationId}`;
    let window = this.windows.get(windowKey);
    if (!window) {
      window = { modelVersion: verdict.modelVersion, station: verdict.stationId, rolling: new RollingConfusion(this.options.windowSize) };
      this.windows.set(windowKey, window);
    }
    window.rolling.add(outcome);
    this.feedbackTotal.inc({ model_version: verdict.modelVersion, station: verdict.stationId, outcome });
    this.options.logger.info({ key: verdict.idempotencyKey, station: verdict.stationId, model: verdict.modelVersion, outcome, curator: feedback.curator, method: feedback.method }, 'feedback');
    return { accepted: true, outcome, modelVersion: verdict.modelVersion, stationId: verdict.stationId, idempotencyKey: verdict.idempotencyKey };
  }

  private reject(reason: FeedbackRejectionReason, detail: string): FeedbackReply {
    this.rejectedTotal.inc({ reason });
    this.options.logger.warn({ reason, detail }, 'feedback rejected');
    return { accepted: false, reason, detail };
  }
}
