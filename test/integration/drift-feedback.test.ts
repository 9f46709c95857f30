// Acceptance of issue 5 against a real cluster (nats-server, coordinator, worker with the reference
// mercury CNN, real synthetic sheets): label-free drift (PSI) and ground-truth accuracy drift.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import { channelOptions, feedbackProto, grpc } from '../../common/src/adapters/grpc-services.js';
import { PSI_ALERT_THRESHOLD } from '../../common/src/drift.js';
import { feedbackSubject, type FeedbackReply } from '../../common/src/feedback.js';
import type { FeedbackReply as GrpcFeedbackReply } from '../../common/src/generated/quicksilver/v1/FeedbackReply.js';
import type { Verdict__Output } from '../../common/src/generated/quicksilver/v1/Verdict.js';
import { repoRoot } from '../../common/src/paths.js';
import { syntheticSheets, type SheetShift } from '../../common/src/synth/index.js';
import { loadConfig } from '../../common/src/config.js';
import { createRegistry } from '../../common/src/metrics.js';
import { CoordinatorConfigSchema } from '../../coordinator/src/config.js';
import { Coordinator } from '../../coordinator/src/coordinator.js';
import { silentLogger, startCluster, type Cluster } from '../helpers/cluster.js';
import { promtoolCheckMetrics, sample, scrape, SequentialInspector } from '../helpers/observability.js';

const MODEL = 'mercury-cnn@1.0.0';
const STATION = 'drift-station';
/** Unshifted sheets, also the worker's drift window. */
const REFERENCE_RUN = 100;
/** Shifted sheets within which PSI must cross the alert threshold (measured: PSI 0.29 after 100 unshifted sheets, over 0.5 after 25 paper-tone sheets). */
const SHIFTED_WITHIN = 40;
const FEEDBACK_WINDOW = 10;

interface Judged { verdict: Verdict__Output; contaminated: boolean }

describe('drift and feedback (issue 5 acceptance)', { timeout: 280_000 }, () => {
  let cluster: Cluster;
  let inspector: SequentialInspector;
  let nats: NatsConnection;
  const judged: Judged[] = [];
  let judgedShifted = 0;

  before(async () => {
    cluster = await startCluster({ workers: 1, worker: { driftWindowScores: REFERENCE_RUN, maxBatchSize: 4 }, coordinator: { feedbackWindow: FEEDBACK_WINDOW } });
    inspector = new SequentialInspector(cluster.coordinatorAddress, STATION);
    nats = await connect({ servers: cluster.nats.url });
  });
  after(async () => {
    inspector?.close();
    await nats?.close();
    await cluster?.stop();
  });

  const workerPsi = async () => sample(await scrape(cluster.workers[0]!.metricsServer.port), 'quicksilver_drift_score_psi', { model_version: MODEL });

  async function* sheets(seed: number, count: number, shift: SheetShift) {
    let i = 0;
    for await (const sheet of syntheticSheets({ seed, count, shift, width: 1500, height: 2000, format: 'jpeg', quality: 90 })) {
      yield { sheet, key: `${STATION}:${shift}:${seed}:${i++}` };
    }
  }

  it('the alert rule fires at the exported threshold', () => {
    const rules = readFileSync(join(repoRoot(), 'deploy/prometheus/alerts.yml'), 'utf8');
    assert.match(rules, new RegExp(`quicksilver_drift_score_psi[^\\n]*> ${PSI_ALERT_THRESHOLD}\\b`));
  });

  it(`unshifted sheets keep PSI under ${PSI_ALERT_THRESHOLD} over a full window of ${REFERENCE_RUN}`, async () => {
    for await (const { sheet, key } of sheets(424242, REFERENCE_RUN, 'none')) {
      const verdict = await inspector.inspect({ key, barcode: sheet.truth.barcode, bytes: sheet.bytes, fileName: sheet.fileName });
      judged.push({ verdict, contaminated: sheet.truth.contaminated });
    }
    const text = await scrape(cluster.workers[0]!.metricsServer.port);
    assert.equal(sample(text, 'quicksilver_drift_window_scores', { model_version: MODEL }), REFERENCE_RUN);
    const psi = sample(text, 'quicksilver_drift_score_psi', { model_version: MODEL })!;
    assert.ok(psi > 0 && psi < PSI_ALERT_THRESHOLD, `unshifted PSI ${psi}`);
    const brightness = sample(text, 'quicksilver_drift_input_statistic', { model_version: MODEL, statistic: 'brightness' })!;
    assert.ok(brightness > 0.7 && brightness < 0.95, `brightness ${brightness}`);
  });

  it(`paper-tone sheets push PSI over ${PSI_ALERT_THRESHOLD} within ${SHIFTED_WITHIN} images`, async (t) => {
    const before = await workerPsi();
    let crossedAfter = 0;
    for await (const { sheet, key } of sheets(515151, SHIFTED_WITHIN, 'paper-tone')) {
      await inspector.inspect({ key, barcode: '', bytes: sheet.bytes, fileName: sheet.fileName });
      crossedAfter++;
      judgedShifted++;
      if ((await workerPsi())! > PSI_ALERT_THRESHOLD) break;
    }
    const after = (await workerPsi())!;
    t.diagnostic(`PSI ${before} after ${REFERENCE_RUN} unshifted sheets, ${after} after ${crossedAfter} paper-tone sheets`);
    assert.ok(after > PSI_ALERT_THRESHOLD, `PSI ${before} -> ${after} after ${crossedAfter} shifted sheets`);
    const text = await scrape(cluster.workers[0]!.metricsServer.port);
    const colourCast = sample(text, 'quicksilver_drift_input_statistic', { model_version: MODEL, statistic: 'colour_cast' })!;
    assert.ok(colourCast > 0.047, `colour cast rose with the yellow paper: ${colourCast}`);
  });

  it('feedback joins verdicts by key (NATS) and barcode (gRPC); wrong labels lower accuracy by exactly the expected amount', async () => {
    const coordinatorPort = cluster.coordinator.metricsServer.port;
    const request = async (body: unknown): Promise<FeedbackReply> => {
      const message = await nats.request(feedbackSubject(STATION), typeof body === 'string' ? body : JSON.stringify(body), { timeout: 5000 });
      return message.json<FeedbackReply>();
    };
    const client = new feedbackProto.Feedback(cluster.coordinatorAddress, grpc.credentials.createInsecure(), channelOptions);
    const submitGrpc = (barcode: string, contaminated: boolean) => new Promise<GrpcFeedbackReply>((resolve, reject) => {
      client.Submit({ barcode, contaminated, curator: 'test', method: 'xrf' }, (error, reply) => (error ? reject(error) : resolve(reply!)));
    });
    const figures = async () => {
      const text = await scrape(coordinatorPort);
      const labels = { model_version: MODEL, station: STATION };
      return {
        accuracy: sample(text, 'quicksilver_feedback_accuracy', labels), precision: sample(text, 'quicksilver_feedback_precision', labels),
        recall: sample(text, 'quicksilver_feedback_recall', labels),
      };
    };

    // Ten confirmations (truth = the verdict): a perfect window.
    const confirmed = judged.slice(0, FEEDBACK_WINDOW);
    for (const [i, { verdict }] of confirmed.entries()) {
      const reply = i % 2 === 0
        ? await request({ schema: 'quicksilver.feedback.v1', idempotencyKey: verdict.idempotencyKey, contaminated: verdict.flagged, curator: 'c', method: 'xrf' })
        : { accepted: true, ...(await submitGrpc(verdict.barcode, verdict.flagged)) };
      assert.equal(reply.accepted, true, JSON.stringify(reply));
      if ('outcome' in reply) assert.equal(reply.outcome, verdict.flagged ? 'tp' : 'tn');
    }
    const flaggedConfirmed = confirmed.filter((j) => j.verdict.flagged).length;
    assert.deepEqual(await figures(), { accuracy: 1, precision: flaggedConfirmed ? 1 : 0, recall: flaggedConfirmed ? 1 : 0 });

    // Four refutations (truth = not the verdict) evict the four oldest confirmations from the window of ten.
    const refuted = judged.slice(FEEDBACK_WINDOW, FEEDBACK_WINDOW + 4);
    for (const { verdict } of refuted) {
      const reply = await request({ schema: 'quicksilver.feedback.v1', idempotencyKey: verdict.idempotencyKey, contaminated: !verdict.flagged });
      assert.equal(reply.accepted, true, JSON.stringify(reply));
    }
    const window = [...confirmed.slice(4).map(({ verdict }) => (verdict.flagged ? 'tp' : 'tn')), ...refuted.map(({ verdict }) => (verdict.flagged ? 'fp' : 'fn'))];
    const count = (o: string) => window.filter((w) => w === o).length;
    const [tp, fp, fn] = [count('tp'), count('fp'), count('fn')];
    assert.deepEqual(await figures(), {
      accuracy: 0.6, // 6 confirmed of 10
      precision: tp + fp ? tp / (tp + fp) : 0,
      recall: tp + fn ? tp / (tp + fn) : 0,
    });
    const text = await scrape(coordinatorPort);
    for (const outcome of ['tp', 'fp', 'tn', 'fn']) {
      assert.equal(sample(text, 'quicksilver_feedback_window_items', { model_version: MODEL, station: STATION, outcome }), count(outcome));
    }
    const totalAll = ['tp', 'fp', 'tn', 'fn'].reduce((sum, outcome) => sum + (sample(text, 'quicksilver_feedback_total', { model_version: MODEL, station: STATION, outcome }) ?? 0), 0);
    assert.equal(totalAll, FEEDBACK_WINDOW + 4);

    // Bad feedback is refused with a reason and counted; the coordinator keeps serving.
    assert.equal((await request('{not json')).accepted, false);
    assert.deepEqual(await request({ schema: 'quicksilver.feedback.v1', idempotencyKey: 'x' }).then((r) => !r.accepted && r.reason), 'invalid_schema');
    assert.deepEqual(await request({ schema: 'quicksilver.feedback.v1', idempotencyKey: 'no-such-key', contaminated: true }).then((r) => !r.accepted && r.reason), 'unknown_verdict');
    assert.deepEqual(await request({ schema: 'quicksilver.feedback.v1', idempotencyKey: refuted[0]!.verdict.idempotencyKey, contaminated: true }).then((r) => !r.accepted && r.reason), 'duplicate');
    await assert.rejects(submitGrpc('no-such-barcode', true), (error: grpc.ServiceError) => error.code === grpc.status.NOT_FOUND && /unknown_verdict/.test(error.details));
    client.close();
    const after = await scrape(coordinatorPort);
    assert.deepEqual(['invalid_json', 'invalid_schema', 'unknown_verdict', 'duplicate'].map((reason) => sample(after, 'quicksilver_feedback_rejected_total', { reason })), [1, 1, 2, 1]);
    assert.equal((await figures()).accuracy, 0.6);
  });

  it('a coordinator started later joins feedback to verdicts replayed from JetStream', async () => {
    const config = loadConfig(CoordinatorConfigSchema, 'QS_TEST_UNUSED', {
      flags: { grpcAddress: '127.0.0.1:0', metricsHost: '127.0.0.1', metricsPort: 0, natsServers: [cluster.nats.url], logLevel: 'silent' },
    });
    const late = new Coordinator(config, silentLogger, createRegistry('coordinator'));
    await late.start();
    try {
      assert.equal(late.feedback.indexedVerdicts, REFERENCE_RUN + judgedShifted, 'every published verdict replayed');
      const last = judged.at(-1)!.verdict;
      const reply = late.feedback.submit({ schema: 'quicksilver.feedback.v1', barcode: last.barcode, contaminated: last.flagged });
      assert.deepEqual(reply, { accepted: true, outcome: last.flagged ? 'tp' : 'tn', modelVersion: MODEL, stationId: STATION, idempotencyKey: last.idempotencyKey });
    } finally {
      await late.stop(AbortSignal.timeout(5000));
    }
  });

  it('every process exposition passes promtool check metrics', async () => {
    for (const port of [cluster.coordinator.metricsServer.port, cluster.workers[0]!.metricsServer.port]) {
      assert.equal(promtoolCheckMetrics(await scrape(port)), '', `promtool check metrics on :${port}`);
    }
  });
});
