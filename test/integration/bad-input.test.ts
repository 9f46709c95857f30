// The bad-input table (docs/bad-input.md), end to end against a real coordinator + worker + nats-server:
// each hostile input gets its stable code and a reason naming the cause, is counted in
// quicksilver_coordinator_rejections_total{code} (or uploads_aborted_total), and the same processes
// go on serving good images. Truncated JPEG and non-image bytes are covered by pipeline.test.ts;
// the worker's own decoding rows by inference-engine.test.ts.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, type RejectionEvent } from '../../agent/src/agent.js';
import { InspectionClient } from '../../agent/src/adapters/inspection-client.js';
import type { InspectionSession } from '../../agent/src/adapters/inspection-session.js';
import { agentConfigSchema, resolveAgentOptions } from '../../agent/src/config.js';
import { loadConfig } from '../../common/src/config.js';
import type { ImageHeader__Output as ImageHeader } from '../../common/src/generated/quicksilver/v1/ImageHeader.js';
import type { InspectResponse__Output } from '../../common/src/generated/quicksilver/v1/InspectResponse.js';
import { renderSheet } from '../../common/src/synth/index.js';
import { pngBomb } from '../helpers/bad-images.js';
import { silentLogger, startCluster, until, type Cluster } from '../helpers/cluster.js';

const MAX_IMAGE_BYTES = 1_000_000;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const noSecurity = { tlsCaFile: '', tlsCertFile: '', tlsKeyFile: '', tlsServerName: '', authTokenFile: '' };

interface Case {
  row: string;
  /** Header fields over a valid header for `bytes`. */
  header?: Partial<ImageHeader>;
  bytes?: Buffer;
  /** Declared size minus actual size. */
  sizeDelta?: number;
  code: string;
  /** The reason must name the cause. */
  reason: RegExp;
}

describe('bad input: stable codes, counted, processes keep serving', { timeout: 240_000 }, () => {
  let cluster: Cluster;
  let client: InspectionClient;
  let session: InspectionSession;
  let good: Buffer;
  let counter = 0;
  const answers = new Map<string, InspectResponse__Output>();

  const openSession = () => client.openSession({
    onResponse: (response) => {
      const answer = response.verdict ?? response.rejection;
      if (answer) answers.set(answer.idempotencyKey, response);
    },
    onClosed: () => {},
  });

  function headerFor(bytes: Buffer, overrides: Partial<ImageHeader> = {}): ImageHeader {
    const n = ++counter;
    return {
      idempotencyKey: `bad-input-station:${n}`, stationId: 'bad-input-station', barcode: `QS${n}`, captureTime: new Date().toISOString(),
      contentType: 'image/jpeg', sizeBytes: bytes.length, sha256: sha256(bytes), fileName: `QS${n}.jpg`, modelName: '', priority: 'PRIORITY_REALTIME', imageUri: '',
      ...overrides,
    };
  }

  /** Sends a header and all bytes in one chunk; resolves with the answer for its key. */
  async function submit(header: ImageHeader, bytes: Buffer, on = session): Promise<InspectResponse__Output> {
    await on.send({ header });
    await on.send({ chunk: { idempotencyKey: header.idempotencyKey, offset: 0, data: bytes, last: true } });
    await until(() => answers.has(header.idempotencyKey), 60_000, `an answer for ${header.fileName}`);
    return answers.get(header.idempotencyKey)!;
  }

  async function metric(name: string, labels: Record<string, string>): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${cluster.coordinator.metricsServer.port}/metrics`)).text();
    let total = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`)) continue;
      if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.split(' ').pop());
    }
    return total;
  }

  async function expectVerdictForGoodImage(): Promise<void> {
    const answer = await submit(headerFor(good), good);
    assert.ok(answer.verdict, `a good image still gets a verdict (got ${JSON.stringify(answer.rejection)})`);
  }

  before(async () => {
    // No grace: an unknown model name is answered at once, as it is once a coordinator has been up unknownModelGraceMs.
    cluster = await startCluster({ workers: 1, coordinator: { maxImageBytes: MAX_IMAGE_BYTES, unknownModelGraceMs: 0 } });
    client = new InspectionClient(cluster.coordinatorAddress, { ...noSecurity, reconnectBaseDelayMs: 100, reconnectMaxDelayMs: 500, logger: silentLogger });
    session = openSession();
    good = (await renderSheet({ seed: 8100, contaminated: false, width: 600, height: 800 })).bytes;
  });
  after(async () => {
    session?.close();
    client?.close();
    await cluster?.stop();
  });

  const cases: Case[] = [
    { row: 'zero-byte file', bytes: Buffer.alloc(0), code: 'IMAGE_EMPTY', reason: /zero bytes/ },
    { row: 'decompression bomb (30000 × 30000 declared in a few hundred bytes)', bytes: pngBomb(), header: { contentType: 'image/png' }, code: 'IMAGE_TOO_LARGE', reason: /declares 30000×30000/ },
    { row: 'image over the size limit', header: { sizeBytes: MAX_IMAGE_BYTES + 1 }, code: 'IMAGE_TOO_LARGE', reason: /over the 1000000-byte limit/ },
    { row: 'mismatched checksum', header: { sha256: 'f'.repeat(64) }, code: 'CHECKSUM_MISMATCH', reason: /hash to [0-9a-f]{64}, declared f{64}/ },
    { row: 'declared size larger than the bytes sent', sizeDelta: 10, code: 'SIZE_MISMATCH', reason: /received \d+ bytes, declared \d+/ },
    { row: 'missing station id', header: { stationId: '' }, code: 'INVALID_METADATA', reason: /stationId: must be 1-64 characters/ },
    { row: 'missing idempotency key', header: { idempotencyKey: '' }, code: 'INVALID_METADATA', reason: /idempotencyKey: must be 1-128 characters/ },
    { row: "another station's idempotency key", header: { idempotencyKey: 'other-station:1' }, code: 'INVALID_METADATA', reason: /idempotencyKey: must start with the station id and a colon/ },
    { row: 'unsupported content type', header: { contentType: 'application/pdf' }, code: 'INVALID_METADATA', reason: /contentType: must be one of image\/jpeg/ },
    { row: 'capture time not a date', header: { captureTime: 'yesterday' }, code: 'INVALID_METADATA', reason: /captureTime: must be an RFC 3339 date-time/ },
    { row: 'malformed SHA-256', header: { sha256: 'XYZ' }, code: 'INVALID_METADATA', reason: /sha256: must be 64 lower-case hex/ },
    { row: 'unknown model name', header: { modelName: 'no-such-model' }, code: 'UNKNOWN_MODEL', reason: /no worker serves model 'no-such-model'/ },
    { row: 'path traversal in the file name', header: { fileName: '../../etc/passwd' }, code: 'INVALID_METADATA', reason: /fileName: must be a plain file name/ },
    { row: 'absolute path in the file name', header: { fileName: '/etc/passwd' }, code: 'INVALID_METADATA', reason: /fileName: must be a plain file name/ },
    { row: 'Windows path in the file name', header: { fileName: '..\\..\\boot.ini' }, code: 'INVALID_METADATA', reason: /fileName: must be a plain file name/ },
    { row: 'NUL byte in the file name', header: { fileName: 'QS1.jpg\0.sh' }, code: 'INVALID_METADATA', reason: /fileName: must be a plain file name/ },
  ];

  for (const testCase of cases) {
    it(`${testCase.row} -> ${testCase.code}`, async () => {
      const bytes = testCase.bytes ?? good;
      const header = headerFor(bytes, testCase.header);
      if (testCase.sizeDelta) header.sizeBytes = bytes.length + testCase.sizeDelta;
      // An invalid header's station may be empty: it is counted as "unknown".
      const station = header.stationId || 'unknown';
      const before = await metric('quicksilver_coordinator_rejections_total', { code: testCase.code, station });
      const answer = await submit(header, bytes);
      assert.ok(answer.rejection, `rejected (got ${JSON.stringify(answer.verdict)})`);
      assert.equal(answer.rejection.code, testCase.code);
      assert.equal(answer.rejection.retryable, false, 'a bad input is a final answer');
      assert.match(answer.rejection.reason, testCase.reason);
      assert.equal(await metric('quicksilver_coordinator_rejections_total', { code: testCase.code, station }), before + 1, 'counted by code');
      await expectVerdictForGoodImage();
    });
  }

  it('a key already answered, sent again with other bytes, is refused instead of answered with the first image\'s verdict', async () => {
    const first = headerFor(good);
    const answer = await submit(first, good);
    assert.ok(answer.verdict, 'the first image gets its verdict');
    const other = (await renderSheet({ seed: 8101, contaminated: true, width: 600, height: 800 })).bytes;
    answers.delete(first.idempotencyKey);
    const reused = await submit(headerFor(other, { idempotencyKey: first.idempotencyKey }), other);
    assert.equal(reused.rejection?.code, 'INVALID_METADATA', JSON.stringify(reused));
    assert.match(reused.rejection!.reason, /idempotency key bad-input-station:\d+ is already in use for other bytes/);
    answers.delete(first.idempotencyKey);
    const resent = await submit(first, good);
    assert.deepEqual(resent.verdict, answer.verdict, 'the same bytes under the same key get the same answer');
  });

  it('a chunk stream that stops half-way (the agent disconnects mid-image) is dropped and counted; others are served', async () => {
    const header = headerFor(good);
    const before = await metric('quicksilver_coordinator_uploads_aborted_total', { station: header.stationId });
    const broken = openSession();
    await broken.send({ header });
    await broken.send({ chunk: { idempotencyKey: header.idempotencyKey, offset: 0, data: good.subarray(0, good.length >> 1), last: false } });
    broken.close();
    await until(async () => (await metric('quicksilver_coordinator_uploads_aborted_total', { station: header.stationId })) === before + 1, 10_000, 'the aborted upload to be counted');
    assert.equal(answers.has(header.idempotencyKey), false, 'nothing is answered for a half-sent image');
    // The same image resent whole (as a reconnecting agent does) gets its verdict.
    const resent = await submit(header, good);
    assert.ok(resent.verdict, `the whole resend gets its verdict (got ${JSON.stringify(resent.rejection)})`);
  });

  it('a chunk without a header -> PROTOCOL_VIOLATION, and the stream goes on serving', async () => {
    const before = await metric('quicksilver_coordinator_rejections_total', { code: 'PROTOCOL_VIOLATION', station: 'unknown' });
    await session.send({ chunk: { idempotencyKey: 'bad-input-station:orphan', offset: 0, data: good.subarray(0, 100), last: true } });
    await until(() => answers.has('bad-input-station:orphan'), 10_000, 'the orphan chunk to be answered');
    const answer = answers.get('bad-input-station:orphan')!;
    assert.equal(answer.rejection?.code, 'PROTOCOL_VIOLATION');
    assert.match(answer.rejection!.reason, /chunk for bad-input-station:orphan without a header/);
    assert.equal(await metric('quicksilver_coordinator_rejections_total', { code: 'PROTOCOL_VIOLATION', station: 'unknown' }), before + 1);
    await expectVerdictForGoodImage();
  });

  it('the agent files a zero-byte file, an over-limit file and a non-image extension in rejected/ with their codes; names stay plain', async () => {
    const watchDir = join(cluster.dir, 'hot-bad');
    mkdirSync(watchDir);
    const config = loadConfig(agentConfigSchema, 'QS_TEST_UNUSED', {
      flags: { coordinatorAddress: cluster.coordinatorAddress, watchDir, stationId: 'bad-input-agent', stabilityThresholdMs: 200, display: false },
    });
    const agent = new Agent(resolveAgentOptions(config), { logger: silentLogger });
    const rejections: RejectionEvent[] = [];
    agent.on('rejection', (event) => rejections.push(event));
    await agent.start();
    try {
      writeFileSync(join(watchDir, 'QS00081001.jpg'), Buffer.alloc(0));
      writeFileSync(join(watchDir, 'QS00081003.bmp'), good);
      writeFileSync(join(watchDir, 'QS00081002.tif'), Buffer.concat([Buffer.from([0x49, 0x49, 0x2a, 0x00]), Buffer.alloc(MAX_IMAGE_BYTES)]));
      await until(() => rejections.length >= 3, 60_000, 'three rejections filed by the agent');
      const codes: Record<string, string> = Object.fromEntries(rejections.map((r) => [r.fileName, r.code]));
      assert.deepEqual(codes, { 'QS00081001.jpg': 'IMAGE_EMPTY', 'QS00081002.tif': 'IMAGE_TOO_LARGE', 'QS00081003.bmp': 'UNSUPPORTED_FORMAT' });
      for (const [name, code] of Object.entries(codes)) {
        const filed = join(watchDir, 'rejected', name);
        assert.ok(existsSync(filed), `${name} filed in rejected/`);
        assert.equal(JSON.parse(readFileSync(`${filed}.reason.json`, 'utf8')).code, code);
      }
    } finally {
      await agent.stop(AbortSignal.timeout(2000));
    }
    assert.equal(cluster.coordinator.dispatcher.connectedWorkers.length, 1, 'the worker is still connected after every bad input');
  });
});
