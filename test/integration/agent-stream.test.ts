// The Agent against a real in-test gRPC Inspection server on loopback: verdicts and rejections are
// filed, retryable rejections resent, a 40 MB image arrives intact in 1 MiB chunks, a coordinator
// killed mid-upload then restarted on the same port gets every image again, the spool survives an
// agent restart, and a full spool leaves new files in the hot folder until room frees up.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import sharp from 'sharp';
import { CHUNK_BYTES } from '../../common/src/adapters/grpc-services.js';
import { loadConfig } from '../../common/src/config.js';
import { createLogger } from '../../common/src/logger.js';
import { Agent, type AgentEvents } from '../../agent/src/agent.js';
import { AGENT_ENV_PREFIX, agentConfigSchema, resolveAgentOptions } from '../../agent/src/config.js';
import { OperatorDisplay } from '../../agent/src/operator-display.js';
import { TestCoordinator, verdictFor, type Decide } from './agent-test-coordinator.js';

const STATION = 'test-station';
const logger = createLogger({ name: 'agent-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

async function jpeg(seed: number): Promise<Buffer> {
  return sharp({ create: { width: 96, height: 128, channels: 3, background: { r: 200, g: 180 + (seed % 50), b: 140 } } }).jpeg().toBuffer();
}

/** Writes `bytes` as <name>.part then renames, as a careful conveyor would. */
async function drop(dir: string, name: string, bytes: Buffer | string): Promise<void> {
  await writeFile(join(dir, `${name}.part`), bytes);
  await rename(join(dir, `${name}.part`), join(dir, name));
}

/** A large image-like file (JPEG magic + random bytes) written 1 MiB at a time. */
async function dropLarge(dir: string, name: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(join(dir, `${name}.part`));
  for (let written = 0; written < bytes; written += CHUNK_BYTES) {
    const piece = randomBytes(Math.min(CHUNK_BYTES, bytes - written));
    if (written === 0) piece.set([0xff, 0xd8, 0xff, 0xe0]);
    hash.update(piece);
    if (!out.write(piece)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
  await rename(join(dir, `${name}.part`), join(dir, name));
  return hash.digest('hex');
}

/** Next `event` from the agent whose fileName is `fileName`. */
function next<E extends 'verdict' | 'rejection' | 'retry'>(agent: Agent, event: E, fileName: string): Promise<AgentEvents[E][0]> {
  return new Promise((resolve) => {
    const listener = (payload: AgentEvents[E][0]) => {
      if (payload.fileName !== fileName) return;
      agent.off(event, listener as never);
      resolve(payload);
    };
    agent.on(event, listener as never);
  });
}

describe('Agent over a real gRPC stream', { timeout: 90_000 }, () => {
  let dir: string;
  let coordinator: TestCoordinator;
  let agent: Agent | undefined;
  let lines: string[];
  let reads: number[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agent-stream-'));
    lines = [];
    reads = [];
  });
  afterEach(async () => {
    await agent?.stop(AbortSignal.timeout(2_000));
    agent = undefined;
    coordinator.kill();
    await rm(dir, { recursive: true, force: true });
  });

  async function startAgent(address: string, flags: Record<string, unknown> = {}, registry?: Registry): Promise<Agent> {
    const config = loadConfig(agentConfigSchema, AGENT_ENV_PREFIX, {
      flags: {
        coordinatorAddress: address, stationId: STATION, watchDir: dir, stabilityThresholdMs: 150, pollIntervalMs: 25,
        reconnectBaseDelayMs: 50, reconnectMaxDelayMs: 300, retryBaseDelayMs: 50, retryMaxDelayMs: 200, logLevel: 'silent', ...flags,
      },
    });
    agent = new Agent(resolveAgentOptions(config), { logger, display: new OperatorDisplay((line) => lines.push(line)), onRead: (n) => reads.push(n), registry });
    await agent.start();
    return agent;
  }

  it('files a verdict into done/ with the whole verdict beside it, and shows it', async () => {
    coordinator = await TestCoordinator.start();
    const started = await startAgent(coordinator.address);
    const bytes = await jpeg(1);
    const arrived = next(started, 'verdict', 'QS00000001_hot.jpg');
    await drop(dir, 'QS00000001_hot.jpg', bytes);
    const event = await arrived;
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    assert.equal(event.filedPath, join(dir, 'done', 'QS00000001_hot.jpg'));
    assert.deepEqual(await readFile(event.filedPath), bytes);
    const saved = JSON.parse(await readFile(`${event.filedPath}.verdict.json`, 'utf8'));
    assert.equal(saved.idempotencyKey, `${STATION}:${sha256}`);
    assert.equal(saved.barcode, 'QS00000001');
    assert.equal(saved.label, 'contaminated');
    assert.equal(saved.modelVersion, '1.0.0');
    assert.deepEqual(saved.timings, { uploadMs: 1, queueMs: 1, transferMs: 1, workerQueueMs: 1, readMs: 0, decodeMs: 1, inferenceMs: 1, totalMs: 6 });
    assert.ok(!(await readdir(dir)).includes('QS00000001_hot.jpg'), 'left the hot folder');
    assert.match(lines[0], /^⚠ FLAG {2}QS00000001_hot\.jpg {2}contaminated {2}score 0\.93 {2}\(model mercury-cnn@1\.0\.0, \d+ ms\)$/);
    const header = coordinator.headers[0];
    assert.equal(header.contentType, 'image/jpeg');
    assert.equal(header.stationId, STATION);
    assert.match(header.captureTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('files a terminal rejection into rejected/ with its reason, and never uploads unsupported files', async () => {
    coordinator = await TestCoordinator.start();
    const started = await startAgent(coordinator.address);
    const corrupt = next(started, 'rejection', 'QS00000002.jpg');
    const unsupported = next(started, 'rejection', 'notes.txt');
    await drop(dir, 'QS00000002.jpg', 'this is text, not a JPEG');
    await drop(dir, 'notes.txt', 'operator notes');
    const [corruptEvent, unsupportedEvent] = await Promise.all([corrupt, unsupported]);
    assert.equal(corruptEvent.code, 'IMAGE_CORRUPT');
    assert.equal(corruptEvent.filedPath, join(dir, 'rejected', 'QS00000002.jpg'));
    const reason = JSON.parse(await readFile(`${corruptEvent.filedPath}.reason.json`, 'utf8'));
    assert.equal(reason.code, 'IMAGE_CORRUPT');
    assert.match(reason.reason, /not a JPEG/);
    assert.ok(!Number.isNaN(Date.parse(reason.at)));
    assert.equal(unsupportedEvent.code, 'UNSUPPORTED_FORMAT');
    assert.equal(JSON.parse(await readFile(join(dir, 'rejected', 'notes.txt.reason.json'), 'utf8')).code, 'UNSUPPORTED_FORMAT');
    assert.deepEqual(coordinator.headers.map((h) => h.fileName), ['QS00000002.jpg'], 'notes.txt was not uploaded');
    assert.ok(lines.some((line) => line.startsWith('✗ REJECTED  QS00000002.jpg  IMAGE_CORRUPT')));
    assert.ok(lines.some((line) => line.startsWith('✗ REJECTED  notes.txt  UNSUPPORTED_FORMAT')));
  });

  it('resends after retryable rejections (same key), never filing them as rejected', async () => {
    const decide: Decide = (image) =>
      image.attempt <= 2
        ? { rejection: { idempotencyKey: image.header.idempotencyKey, code: 'NO_WORKER', reason: 'no worker was available in time', retryable: true } }
        : verdictFor(image);
    coordinator = await TestCoordinator.start(decide);
    const started = await startAgent(coordinator.address);
    const retries: number[] = [];
    started.on('retry', (event) => retries.push(event.attempt));
    const arrived = next(started, 'verdict', 'QS00000003.jpg');
    await drop(dir, 'QS00000003.jpg', await jpeg(3));
    const event = await arrived;
    assert.deepEqual(retries, [1, 2]);
    assert.equal(coordinator.received.length, 3);
    assert.equal(new Set(coordinator.received.map((r) => r.header.idempotencyKey)).size, 1, 'one idempotency key for every resend');
    assert.ok(coordinator.received.every((r) => r.intact));
    assert.equal(event.filedPath, join(dir, 'done', 'QS00000003.jpg'));
    assert.deepEqual(await readdir(join(dir, 'rejected')), []);
    assert.equal(lines.filter((line) => line.startsWith('↻ RETRY  QS00000003.jpg  NO_WORKER')).length, 2);
  });

  it('slows the whole station down after OVERLOADED: no new upload before the backoff delay', async () => {
    const decide: Decide = (image) => image.header.fileName === 'QS00000010.jpg' && image.attempt === 1
      ? { rejection: { idempotencyKey: image.header.idempotencyKey, code: 'OVERLOADED', reason: 'the fleet is saturated', retryable: true } }
      : verdictFor(image);
    coordinator = await TestCoordinator.start(decide);
    // Equal-jitter backoff: the first delay is between 1000 and 2000 ms.
    const started = await startAgent(coordinator.address, { retryBaseDelayMs: 2000, retryMaxDelayMs: 2000 });
    const headerTimes = new Map<string, number>();
    coordinator.on('image', (image) => { if (!headerTimes.has(image.header.fileName)) headerTimes.set(image.header.fileName, performance.now()); });
    const retried = new Promise<number>((resolve) => started.once('retry', () => resolve(performance.now())));
    const firstDone = next(started, 'verdict', 'QS00000010.jpg');
    await drop(dir, 'QS00000010.jpg', await jpeg(10));
    const overloadedAt = await retried;
    const secondDone = next(started, 'verdict', 'QS00000011.jpg');
    await drop(dir, 'QS00000011.jpg', await jpeg(11));
    await Promise.all([firstDone, secondDone]);
    const waited = headerTimes.get('QS00000011.jpg')! - overloadedAt;
    assert.ok(waited >= 950, `the next image was uploaded ${Math.round(waited)} ms after OVERLOADED, before the backoff delay`);
  });

  it('streams a 40 MB image intact in CHUNK_BYTES pieces, read from disk one chunk at a time', async () => {
    coordinator = await TestCoordinator.start();
    const started = await startAgent(coordinator.address);
    const size = 40 * 1024 * 1024;
    const arrived = next(started, 'verdict', 'QS00000004.jpg');
    const sha256 = await dropLarge(dir, 'QS00000004.jpg', size);
    const event = await arrived;
    const [image] = coordinator.received;
    assert.equal(image.receivedBytes, size);
    assert.equal(image.sha256, sha256);
    assert.ok(image.intact, 'offsets in order, size and checksum verified by the server');
    assert.equal(image.largestChunk, CHUNK_BYTES);
    assert.equal(reads.length, 40, 'one disk read per chunk');
    assert.ok(reads.every((n) => n <= CHUNK_BYTES));
    assert.equal(event.verdict.sha256, sha256);
  });

  it('reconnects after the coordinator dies mid-upload and resends every unanswered image', async () => {
    coordinator = await TestCoordinator.start(() => 'hold');
    const started = await startAgent(coordinator.address);
    const disconnected = once(started, 'disconnected');
    const names = ['QS00000005.jpg', 'QS00000006.jpg', 'QS00000007.jpg'];
    const verdicts = names.map((name) => next(started, 'verdict', name));
    for (const [i, name] of names.slice(0, 2).entries()) await drop(dir, name, await jpeg(5 + i));
    await coordinator.waitForImages(2); // two complete and held (awaiting verdicts)
    const midUpload = new Promise<void>((resolve) => coordinator.on('chunk', (_key, offset) => offset >= 2 * CHUNK_BYTES && resolve()));
    const bigSha = await dropLarge(dir, names[2], 12 * CHUNK_BYTES);
    await midUpload;
    const port = coordinator.port;
    coordinator.kill();
    const [error] = await disconnected;
    assert.equal((error as { code: string }).code, 'UNAVAILABLE');
    coordinator = await TestCoordinator.start(undefined, port);
    const events = await Promise.all(verdicts);
    assert.deepEqual(events.map((e) => e.filedPath), names.map((name) => join(dir, 'done', name)));
    assert.deepEqual(coordinator.received.map((r) => r.header.fileName).sort(), names, 'the new coordinator got every image');
    assert.ok(coordinator.received.every((r) => r.intact));
    assert.equal(coordinator.received.find((r) => r.header.fileName === names[2])?.sha256, bigSha);
    assert.deepEqual((await readdir(dir)).sort(), ['done', 'rejected', 'spool'], 'no image lost or left behind');
    assert.deepEqual(await readdir(join(dir, 'spool')), [], 'every image left the spool once filed');
  });

  it('keeps images while the coordinator is away at start, and sends them once it comes up', async () => {
    const probe = await TestCoordinator.start();
    const port = probe.port;
    probe.kill();
    const started = await startAgent(`127.0.0.1:${port}`);
    const disconnected = once(started, 'disconnected');
    const arrived = next(started, 'verdict', 'QS00000009.jpg');
    await drop(dir, 'QS00000009.jpg', await jpeg(9));
    await disconnected;
    for (const deadline = Date.now() + 5000; started.spool.images === 0;) {
      assert.ok(Date.now() < deadline, 'image spooled');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.deepEqual((await readdir(dir)).sort(), ['done', 'rejected', 'spool'], 'moved out of the hot folder into the spool');
    coordinator = await TestCoordinator.start(undefined, port);
    assert.equal((await arrived).filedPath, join(dir, 'done', 'QS00000009.jpg'));
  });

  it('on stop, waits for the verdict of an image already sent', async () => {
    coordinator = await TestCoordinator.start(() => 'hold');
    const started = await startAgent(coordinator.address);
    await drop(dir, 'QS00000008.jpg', await jpeg(8));
    await coordinator.waitForImages(1);
    const stopped = started.stop(AbortSignal.timeout(10_000));
    assert.equal(started.inFlight, 1);
    const filed = next(started, 'verdict', 'QS00000008.jpg');
    coordinator.answer(verdictFor(coordinator.received[0]));
    await Promise.all([stopped, filed]);
    assert.deepEqual(await readdir(join(dir, 'done')), ['QS00000008.jpg', 'QS00000008.jpg.verdict.json']);
  });

  it('never files a verdict about other bytes: it resends the image and files the verdict of its own bytes', async () => {
    let answers = 0;
    coordinator = await TestCoordinator.start((image) => {
      const answer = verdictFor(image);
      if (answers++ === 0) answer.verdict!.sha256 = 'e'.repeat(64); // the first answer names other bytes
      return answer;
    });
    const started = await startAgent(coordinator.address);
    const retried = next(started, 'retry', 'QS00000031.jpg');
    const filed = next(started, 'verdict', 'QS00000031.jpg');
    await drop(dir, 'QS00000031.jpg', await jpeg(31));
    assert.match((await retried).reason, /verdict of other bytes \(SHA-256 e{64}, this image [0-9a-f]{64}\)/);
    const event = await filed;
    assert.equal(event.verdict.sha256, createHash('sha256').update(await readFile(event.filedPath)).digest('hex'));
    assert.equal(coordinator.received.length, 2, 'sent again after the wrong answer');
  });

  it('retries a filing that failed (done/ unusable) without a restart, and files the image once', async () => {
    coordinator = await TestCoordinator.start();
    const started = await startAgent(coordinator.address);
    // done/ replaced by a plain file: filing fails with ENOTDIR, for root as well.
    await rm(join(dir, 'done'), { recursive: true });
    await writeFile(join(dir, 'done'), 'not a folder');
    const filed = next(started, 'verdict', 'QS00000030.jpg');
    await drop(dir, 'QS00000030.jpg', await jpeg(30));
    await coordinator.waitForImages(1);
    await new Promise((resolve) => setTimeout(resolve, 300)); // a few failed attempts (backoff 50 ms doubling to 200 ms)
    assert.equal((await readdir(join(dir, 'spool'))).length, 2, 'the image waits in the spool');
    await rm(join(dir, 'done'));
    await mkdir(join(dir, 'done'));
    const event = await filed;
    assert.equal(event.filedPath, join(dir, 'done', 'QS00000030.jpg'));
    assert.deepEqual(await readdir(join(dir, 'done')), ['QS00000030.jpg', 'QS00000030.jpg.verdict.json']);
    assert.deepEqual(await readdir(join(dir, 'spool')), []);
    assert.equal(coordinator.received.length, 1, 'sent once');
  });

  it('resends what is in the spool after an agent restart, and files it once', async () => {
    coordinator = await TestCoordinator.start(() => 'hold');
    const first = await startAgent(coordinator.address);
    await drop(dir, 'QS00000020.jpg', await jpeg(20));
    await coordinator.waitForImages(1);
    await first.stop(AbortSignal.timeout(200)); // grace over without a verdict: the image stays spooled
    agent = undefined;
    assert.deepEqual((await readdir(join(dir, 'spool'))).length, 2, 'image + record in the spool');
    assert.ok(!(await readdir(dir)).includes('QS00000020.jpg'), 'not in the hot folder');
    coordinator.kill();
    coordinator = await TestCoordinator.start();
    const second = await startAgent(coordinator.address);
    const event = await next(second, 'verdict', 'QS00000020.jpg');
    assert.equal(event.filedPath, join(dir, 'done', 'QS00000020.jpg'));
    assert.equal(coordinator.received[0].header.idempotencyKey, `${STATION}:${event.verdict.sha256}`, 'resent with the same key');
    assert.ok(coordinator.received[0].intact);
    assert.deepEqual(await readdir(join(dir, 'spool')), []);
    assert.deepEqual(await readdir(join(dir, 'done')), ['QS00000020.jpg', 'QS00000020.jpg.verdict.json']);
  });

  it('when the spool is full, new files stay in the hot folder (alarm raised) until a verdict frees room', async () => {
    coordinator = await TestCoordinator.start(() => 'hold');
    const registry = new Registry();
    const started = await startAgent(coordinator.address, { spoolMaxImages: 1 }, registry);
    const gauge = async (name: string) => Number((await registry.getSingleMetricAsString(name)).match(/\n\S+ (\S+)$/)![1]);
    await drop(dir, 'QS00000021.jpg', await jpeg(21));
    await coordinator.waitForImages(1);
    await drop(dir, 'QS00000022.jpg', await jpeg(22));
    await drop(dir, 'QS00000023.jpg', await jpeg(23));
    const deadline = Date.now() + 5000;
    while ((await gauge('quicksilver_agent_spool_full')) !== 1) {
      assert.ok(Date.now() < deadline, 'spool-full alarm raised');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.equal(await gauge('quicksilver_agent_spool_images'), 1);
    assert.ok((await gauge('quicksilver_agent_spool_bytes')) > 0);
    assert.deepEqual((await readdir(dir)).filter((name) => name.endsWith('.jpg')).sort(), ['QS00000022.jpg', 'QS00000023.jpg'], 'left in the hot folder');
    assert.equal(coordinator.received.length, 1, 'nothing else sent while full');
    const rest = ['QS00000021.jpg', 'QS00000022.jpg', 'QS00000023.jpg'].map((name) => next(started, 'verdict', name));
    coordinator.answer(verdictFor(coordinator.received[0]));
    await coordinator.waitForImages(2);
    coordinator.answer(verdictFor(coordinator.received[1]));
    await coordinator.waitForImages(3);
    coordinator.answer(verdictFor(coordinator.received[2]));
    await Promise.all(rest);
    assert.equal(await gauge('quicksilver_agent_spool_full'), 0, 'alarm cleared');
    assert.equal(await gauge('quicksilver_agent_spool_images'), 0);
    assert.equal((await readdir(join(dir, 'done'))).length, 6);
  });
});
