// End to end with real parts: agent (hot folder) -> coordinator -> two workers -> verdict back to
// the agent, published on NATS (seen by an independent subscriber) and stored in JetStream.
import assert from 'node:assert/strict';
import { createHash, randomFillSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { Agent, type RejectionEvent, type VerdictEvent as AgentVerdict } from '../../agent/src/agent.js';
import { agentConfigSchema, resolveAgentOptions } from '../../agent/src/config.js';
import { loadConfig } from '../../common/src/config.js';
import { loadModel } from '../../common/src/model-manifest.js';
import { preprocess } from '../../common/src/preprocess.js';
import { renderSheet } from '../../common/src/synth/index.js';
import { VERDICT_STREAM, VerdictEventSchema, type VerdictEvent } from '../../common/src/verdict-event.js';
import { MIN_FORWARDED_CHUNK_BYTES } from '../../coordinator/src/chunk-assembler.js';
import { referenceModelsDir, silentLogger, startCluster, until, type Cluster } from '../helpers/cluster.js';
import { SequentialInspector, splitEvery } from '../helpers/observability.js';

const MANIFEST = join(referenceModelsDir(), 'mercury-cnn', '1.0.0', 'manifest.json');

describe('pipeline: agent -> coordinator -> two workers -> NATS', { timeout: 240_000 }, () => {
  let cluster: Cluster;
  let agent: Agent;
  let subscriber: NatsConnection;
  let hotFolder: string;
  const published: VerdictEvent[] = [];
  const verdicts: AgentVerdict[] = [];
  const rejections: RejectionEvent[] = [];

  before(async () => {
    cluster = await startCluster({ workers: 2 });
    subscriber = await connect({ servers: cluster.nats.url });
    const subscription = subscriber.subscribe('quicksilver.verdict.>');
    void (async () => {
      for await (const message of subscription) published.push(VerdictEventSchema.parse(message.json()));
    })();
    hotFolder = join(cluster.dir, 'hot-folder');
    mkdirSync(hotFolder);
    const config = loadConfig(agentConfigSchema, 'QS_TEST_UNUSED', {
      flags: { coordinatorAddress: cluster.coordinatorAddress, watchDir: hotFolder, stationId: 'test-station', stabilityThresholdMs: 200, display: false },
    });
    agent = new Agent(resolveAgentOptions(config), { logger: silentLogger });
    agent.on('verdict', (event) => verdicts.push(event));
    agent.on('rejection', (event) => rejections.push(event));
    await agent.start();
  });

  after(async () => {
    await agent?.stop(AbortSignal.timeout(5000));
    await subscriber?.close();
    await cluster?.stop();
  });

  it('returns a verdict for every sheet to the agent, publishes each once and stores it in JetStream', async () => {
    const sheets = [];
    for (let i = 0; i < 6; i++) {
      const { bytes, truth } = await renderSheet({ seed: 9000 + i, contaminated: i % 2 === 0, width: 750, height: 1000 });
      const fileName = `QS${String(77000 + i).padStart(8, '0')}.jpg`;
      sheets.push({ fileName, bytes, truth });
      writeFileSync(join(hotFolder, fileName), bytes);
    }
    await until(() => verdicts.length >= sheets.length, 120_000, 'six verdicts at the agent');
    await until(() => published.length >= sheets.length, 10_000, 'six NATS verdict events');

    const byFile = new Map(verdicts.map((v) => [v.fileName, v]));
    const model = await loadModel(MANIFEST);
    const session = await ort.InferenceSession.create(model.modelPath, { executionProviders: ['cpu'] });
    const { manifest } = model;
    const positive = manifest.labels.indexOf(manifest.positiveLabel);
    for (const sheet of sheets) {
      const verdict = byFile.get(sheet.fileName);
      assert.ok(verdict, `verdict for ${sheet.fileName}`);
      assert.equal(verdict.verdict.sha256, createHash('sha256').update(sheet.bytes).digest('hex'));
      assert.equal(verdict.verdict.stationId, 'test-station');
      assert.equal(verdict.verdict.barcode, sheet.fileName.replace('.jpg', ''));
      assert.equal(verdict.verdict.modelName, manifest.name);
      assert.equal(verdict.verdict.modelVersion, manifest.version);
      assert.ok(existsSync(join(hotFolder, 'done', sheet.fileName)), 'image filed in done/');
      const filed = JSON.parse(readFileSync(join(hotFolder, 'done', `${sheet.fileName}.verdict.json`), 'utf8'));
      assert.equal(filed.label, verdict.verdict.label);
      // The served score equals a direct onnxruntime run on the same preprocessing.
      const input = await preprocess(sheet.bytes, manifest.preprocessing);
      const [height, width] = [manifest.preprocessing.resize.height, manifest.preprocessing.resize.width];
      const output = await session.run({ [manifest.input.name]: new ort.Tensor('float32', input, [1, 3, height, width]) });
      const logits = Array.from(output[manifest.output.name]!.data as Float32Array);
      const exps = logits.map((l) => Math.exp(l - Math.max(...logits)));
      const expected = exps[positive]! / exps.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(verdict.verdict.score - expected) < 1e-5, `${sheet.fileName}: served ${verdict.verdict.score} vs direct ${expected}`);
      assert.equal(verdict.verdict.label, expected >= manifest.threshold ? manifest.positiveLabel : manifest.labels[1 - positive]);
    }
    await session.release();
    assert.equal(new Set(verdicts.map((v) => v.verdict.workerId)).size, 2, 'both workers served');

    const keys = new Set(verdicts.map((v) => v.verdict.idempotencyKey));
    assert.deepEqual(new Set(published.map((e) => e.idempotencyKey)), keys, 'each verdict published once');
    assert.equal(published.length, keys.size);
    for (const event of published) assert.equal(event.stationId, 'test-station');

    const manager = await subscriber.jetstreamManager();
    assert.equal((await manager.streams.info(VERDICT_STREAM)).state.messages, sheets.length, 'stored in JetStream');
    const consumer = await subscriber.jetstream().consumers.get(VERDICT_STREAM);
    const stored: string[] = [];
    for await (const message of await consumer.fetch({ max_messages: sheets.length, expires: 5000 })) {
      stored.push(message.headers!.get('Nats-Msg-Id'));
      if (stored.length === sheets.length) break;
    }
    assert.deepEqual(new Set(stored), keys, 'JetStream messages carry the idempotency keys');
  });

  it('streams a 40 MB image in chunks and it arrives intact (checksum verified end to end)', async () => {
    const side = 3700;
    const raw = randomFillSync(Buffer.allocUnsafe(side * side * 3));
    const tiff = await sharp(raw, { raw: { width: side, height: side, channels: 3 } }).tiff({ compression: 'none' }).toBuffer();
    assert.ok(tiff.length >= 40e6, `${tiff.length} bytes`);
    writeFileSync(join(hotFolder, 'QS00099999.tif'), tiff);
    await until(() => verdicts.some((v) => v.fileName === 'QS00099999.tif') || rejections.some((r) => r.fileName === 'QS00099999.tif'), 120_000, 'the 40 MB verdict');
    const verdict = verdicts.find((v) => v.fileName === 'QS00099999.tif');
    assert.ok(verdict, `40 MB image got a verdict (rejections: ${JSON.stringify(rejections)})`);
    assert.equal(verdict.verdict.sha256, createHash('sha256').update(tiff).digest('hex'), 'coordinator verified the same SHA-256');
  });

  it('scores an image the same however the station cut it into chunks (forwarded as they came, or joined when tiny)', async () => {
    const { bytes } = await renderSheet({ seed: 9100, contaminated: true, width: 1500, height: 2000 });
    assert.ok(bytes.length > 3 * MIN_FORWARDED_CHUNK_BYTES, `${bytes.length} bytes: several chunks of the forwarded size`);
    const inspector = new SequentialInspector(cluster.coordinatorAddress, 'chunking-station');
    try {
      const cuts: [string, (b: Buffer) => Buffer[]][] = [
        ['one chunk', (b) => [b]],
        ['70 kB chunks, forwarded as they came', splitEvery(70_000)],
        ['a 5-byte first chunk, then 100 kB ones', (b) => [b.subarray(0, 5), ...splitEvery(100_000)(b.subarray(5))]],
        ['1 kB chunks, joined first', splitEvery(1000)],
      ];
      const scores: Record<string, number> = {};
      for (const [i, [name, split]] of cuts.entries()) {
        const verdict = await inspector.inspect({ key: `chunking-station:${i}`, barcode: `QS0009100${i}`, bytes, fileName: `QS0009100${i}.jpg` }, split);
        scores[name] = verdict.score;
      }
      for (const [name, score] of Object.entries(scores)) assert.equal(score, scores['one chunk'], `${name}: ${JSON.stringify(scores)}`);
    } finally {
      inspector.close();
    }
  });

  it('rejects a corrupt JPEG and a non-image file with their codes and keeps serving', async () => {
    const { bytes } = await renderSheet({ seed: 4242, contaminated: false, width: 750, height: 1000 });
    writeFileSync(join(hotFolder, 'QS00055501.jpg'), bytes.subarray(0, Math.floor(bytes.length / 2)));
    writeFileSync(join(hotFolder, 'QS00055502.jpg'), Buffer.from('this is a shipping manifest, not a herbarium sheet\n'.repeat(50)));
    await until(() => rejections.length >= 2, 60_000, 'two rejections');
    const codes = Object.fromEntries(rejections.map((r) => [r.fileName, r.code]));
    assert.equal(codes['QS00055501.jpg'], 'IMAGE_CORRUPT');
    assert.equal(codes['QS00055502.jpg'], 'UNSUPPORTED_FORMAT');
    for (const name of ['QS00055501.jpg', 'QS00055502.jpg']) {
      const reason = JSON.parse(readFileSync(join(hotFolder, 'rejected', `${name}.reason.json`), 'utf8'));
      assert.equal(reason.code, codes[name]);
      assert.ok(reason.reason.length > 10, 'a human-readable reason');
    }
    writeFileSync(join(hotFolder, 'QS00055503.jpg'), bytes);
    await until(() => verdicts.some((v) => v.fileName === 'QS00055503.jpg'), 60_000, 'a verdict after the bad inputs');
    assert.equal(published.filter((e) => e.fileName.startsWith('QS000555')).length, 1, 'rejections are not published as verdicts');
  });
});
