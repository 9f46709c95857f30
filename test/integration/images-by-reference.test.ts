// Images sent by reference (agent spoolUriPrefix, ImageHeader.image_uri) against a real coordinator,
// worker and nats-server: the worker reads the agent's spool from storage it shares, no image bytes
// reach the coordinator, a reference no worker can read falls back to sending the bytes (nothing is
// lost), and a bad reference gets a clear, retryable IMAGE_REFERENCE_UNREADABLE naming the cause.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { Agent, type RetryEvent, type VerdictEvent } from '../../agent/src/agent.js';
import { InspectionClient } from '../../agent/src/adapters/inspection-client.js';
import type { InspectionSession } from '../../agent/src/adapters/inspection-session.js';
import { agentConfigSchema, resolveAgentOptions } from '../../agent/src/config.js';
import { loadConfig } from '../../common/src/config.js';
import type { ImageHeader__Output as ImageHeader } from '../../common/src/generated/quicksilver/v1/ImageHeader.js';
import type { InspectResponse__Output } from '../../common/src/generated/quicksilver/v1/InspectResponse.js';
import { renderSheet } from '../../common/src/synth/index.js';
import { silentLogger, startCluster, until, type Cluster } from '../helpers/cluster.js';

const READ_TIMEOUT_MS = 1500;

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const noSecurity = { tlsCaFile: '', tlsCertFile: '', tlsKeyFile: '', tlsServerName: '', authTokenFile: '' };

describe('images sent by reference (real coordinator, worker, nats-server)', { timeout: 240_000 }, () => {
  let cluster: Cluster;
  /** Storage the worker may read references under (referenceAllowedRoots). */
  let shared: string;
  /** Storage it may not. */
  let elsewhere: string;
  let sheets: Buffer[];
  /** Sheets written after a fallback, while references are paused. */
  let later: Buffer[];
  let hung: Server;
  let hungPrefix: string;
  let servedDir: string | undefined;
  const hungSockets = new Set<Socket>();
  let client: InspectionClient;
  let session: InspectionSession;
  let counter = 0;
  const answers = new Map<string, InspectResponse__Output>();

  const scrape = async (url: string) => (await fetch(url)).text();
  const coordinatorMetrics = () => scrape(`http://127.0.0.1:${cluster.coordinator.metricsServer.port}/metrics`);
  const workerMetrics = () => scrape(`http://127.0.0.1:${cluster.workers[0]!.metricsServer.port}/metrics`);
  function metric(text: string, name: string, labels: Record<string, string> = {}): number {
    let total = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name) || !/[ {]/.test(line[name.length] ?? '')) continue;
      if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.split(' ').pop());
    }
    return total;
  }

  async function startAgent(stationId: string, watchDir: string, spoolUriPrefix: string, extra: Record<string, unknown> = {}) {
    mkdirSync(watchDir, { recursive: true });
    const config = loadConfig(agentConfigSchema, 'QS_TEST_UNUSED', {
      flags: { coordinatorAddress: cluster.coordinatorAddress, watchDir, stationId, spoolUriPrefix, stabilityThresholdMs: 200, display: false, metricsPort: 0, ...extra },
    });
    const registry = new Registry();
    const agent = new Agent(resolveAgentOptions(config), { logger: silentLogger, registry });
    const verdicts: VerdictEvent[] = [];
    const retries: RetryEvent[] = [];
    agent.on('verdict', (event) => verdicts.push(event));
    agent.on('retry', (event) => retries.push(event));
    await agent.start();
    return { agent, verdicts, retries, registry };
  }

  /** A header-only submission naming `imageUri`; resolves with the answer for its key. */
  async function submitReference(bytes: Buffer, imageUri: string, overrides: Partial<ImageHeader> = {}): Promise<InspectResponse__Output> {
    const n = ++counter;
    const header: ImageHeader = {
      idempotencyKey: `by-reference-station:${n}`, stationId: 'by-reference-station', barcode: '', captureTime: new Date().toISOString(),
      contentType: 'image/jpeg', sizeBytes: bytes.length, sha256: sha256(bytes), fileName: `QS${n}.jpg`, modelName: '', priority: 'PRIORITY_REALTIME',
      imageUri, ...overrides,
    };
    await session.send({ header });
    await until(() => answers.has(header.idempotencyKey), 60_000, `an answer for ${imageUri}`);
    return answers.get(header.idempotencyKey)!;
  }

  before(async () => {
    shared = mkdtempSync(join(tmpdir(), 'qs-shared-'));
    elsewhere = mkdtempSync(join(tmpdir(), 'qs-elsewhere-'));
    // An image server that accepts and never answers (a hung source), except under /served/ once
    // `servedDir` is set: then it serves the files there (storage that came back).
    hung = createServer((request, response) => {
      const name = request.url?.match(/^\/served\/([0-9a-f]{64}\.img)$/)?.[1];
      if (!name || !servedDir) return;
      try {
        response.end(readFileSync(join(servedDir, name)));
      } catch {
        response.writeHead(404).end();
      }
    });
    hung.on('connection', (socket) => hungSockets.add(socket));
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    hungPrefix = `http://127.0.0.1:${(hung.address() as AddressInfo).port}/`;
    cluster = await startCluster({ workers: 1, worker: { referenceAllowedRoots: [shared], referenceAllowedUrlPrefixes: [hungPrefix], referenceReadTimeoutMs: READ_TIMEOUT_MS } });
    sheets = await Promise.all([0, 1, 2, 3].map(async (i) => (await renderSheet({ seed: 9300 + i, contaminated: i % 2 === 0, width: 600, height: 800 })).bytes));
    later = await Promise.all([0, 1].map(async (i) => (await renderSheet({ seed: 9400 + i, contaminated: false, width: 600, height: 800 })).bytes));
    client = new InspectionClient(cluster.coordinatorAddress, { ...noSecurity, reconnectBaseDelayMs: 100, reconnectMaxDelayMs: 500, logger: silentLogger });
    session = client.openSession({
      onResponse: (response) => {
        const answer = response.verdict ?? response.rejection;
        if (answer) answers.set(answer.idempotencyKey, response);
      },
      onClosed: () => {},
    });
  });
  after(async () => {
    session?.close();
    client?.close();
    await cluster?.stop();
    for (const socket of hungSockets) socket.destroy();
    hung?.close();
    for (const dir of [shared, elsewhere]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('an agent whose spool the worker can read sends headers only: verdicts for every image, no image bytes through the coordinator', async () => {
    const watchDir = join(shared, 'station-a');
    const spoolDir = join(watchDir, 'spool');
    const before = { coordinator: await coordinatorMetrics(), worker: await workerMetrics() };
    const { agent, verdicts, retries } = await startAgent('station-a', watchDir, pathToFileURL(spoolDir).href + '/');
    try {
      sheets.forEach((bytes, i) => writeFileSync(join(watchDir, `QS0093${i}.jpg`), bytes));
      await until(() => verdicts.length === sheets.length, 90_000, 'a verdict for every sheet');
      assert.deepEqual(retries, [], 'no image needed its bytes sent');
      assert.deepEqual(verdicts.map((v) => v.verdict.sha256).sort(), sheets.map(sha256).sort(), 'each verdict is for the bytes spooled');
      assert.ok(verdicts.every((v) => v.verdict.timings!.readMs > 0), 'the worker reports the time it spent reading each image');
    } finally {
      await agent.stop(AbortSignal.timeout(5000));
    }
    const after = { coordinator: await coordinatorMetrics(), worker: await workerMetrics() };
    const delta = (key: 'coordinator' | 'worker', name: string, labels?: Record<string, string>) => metric(after[key], name, labels) - metric(before[key], name, labels);
    assert.equal(delta('coordinator', 'quicksilver_coordinator_images_by_reference_total', { station: 'station-a' }), sheets.length);
    assert.equal(delta('coordinator', 'quicksilver_coordinator_image_bytes_received_total'), 0, 'no image bytes reached the coordinator');
    assert.equal(delta('worker', 'quicksilver_worker_reference_reads_total', { outcome: 'ok' }), sheets.length);
    assert.deepEqual(readdirSync(spoolDir).filter((f) => f.endsWith('.img')), [], 'the spool is emptied once the verdicts are filed');
  });

  it('an agent whose spool the worker cannot read falls back to sending the bytes: every image still gets its verdict', async () => {
    const watchDir = join(elsewhere, 'station-b');
    const before = await coordinatorMetrics();
    const { agent, verdicts, retries, registry } = await startAgent('station-b', watchDir, join(watchDir, 'spool'));
    try {
      sheets.forEach((bytes, i) => writeFileSync(join(watchDir, `QS0094${i}.jpg`), bytes));
      await until(() => verdicts.length === sheets.length, 90_000, 'a verdict for every sheet');
      assert.ok(retries.length >= 1, 'at least the first image was refused by reference');
      for (const retry of retries) {
        assert.equal(retry.code, 'IMAGE_REFERENCE_UNREADABLE');
        assert.match(retry.reason, /outside the allowed roots/);
        assert.equal(retry.delayMs, 0, 'the bytes are sent at once');
      }
      const agentText = await registry.metrics();
      assert.equal(metric(agentText, 'quicksilver_agent_retries_total', { code: 'IMAGE_REFERENCE_UNREADABLE' }), retries.length, 'the fallback is counted');
      // For referencePauseMs (60 s by default) after a fallback, new images go with their bytes straight away.
      const fallbacks = retries.length;
      later.forEach((bytes, i) => writeFileSync(join(watchDir, `QS0095${i}.jpg`), bytes));
      await until(() => verdicts.length === sheets.length + later.length, 90_000, 'a verdict for the later sheets');
      assert.equal(retries.length, fallbacks, 'no reference tried while paused');
    } finally {
      await agent.stop(AbortSignal.timeout(5000));
    }
    const after = await coordinatorMetrics();
    assert.equal(metric(after, 'quicksilver_coordinator_image_bytes_received_total') - metric(before, 'quicksilver_coordinator_image_bytes_received_total'),
      [...sheets, ...later].reduce((a, b) => a + b.length, 0), 'each image\'s bytes crossed once');
  });

  it('after the pause one image probes references while the others send their bytes; the probe\'s verdict resumes references', async () => {
    const pauseMs = 1500;
    const watchDir = join(elsewhere, 'station-c');
    const spoolDir = join(watchDir, 'spool');
    const fresh = await Promise.all(Array.from({ length: 13 }, async (_, i) => (await renderSheet({ seed: 9500 + i, contaminated: false, width: 400, height: 560 })).bytes));
    const byReference = async () => metric(await coordinatorMetrics(), 'quicksilver_coordinator_images_by_reference_total', { station: 'station-c' });
    // The workers read this station's spool over http from a server that hangs for now: each reference is
    // unreadable after READ_TIMEOUT_MS, long enough for the agent to send the other images meanwhile.
    const { agent, verdicts, retries } = await startAgent('station-c', watchDir, `${hungPrefix}served/`, { referencePauseMs: pauseMs, maxInFlight: 4 });
    let written = 0;
    const write = async (count: number) => {
      for (const bytes of fresh.slice(written, written + count)) writeFileSync(join(watchDir, `QS0096${String(written++).padStart(2, '0')}.jpg`), bytes);
      await until(() => verdicts.length === written, 60_000, `verdicts for ${written} sheets`);
    };
    const pauseEnds = () => new Promise((resolve) => setTimeout(resolve, pauseMs + 300));
    try {
      await write(1);
      assert.equal(retries.length, 1, 'the first image fell back to its bytes');
      await pauseEnds();
      await write(4);
      assert.equal(retries.length, 2, 'after the pause only the probe tried a reference; the other three went with their bytes');
      assert.equal(await byReference(), 2);

      servedDir = spoolDir; // storage is back
      await pauseEnds();
      await write(4);
      assert.equal(retries.length, 2, 'the probe was read');
      assert.ok(await byReference() >= 3, 'the probe went by reference');
      const beforeLast = await byReference();
      await write(4);
      assert.equal(await byReference() - beforeLast, 4, 'after the probe\'s verdict every image goes by reference again');
      assert.equal(retries.length, 2);
      assert.deepEqual(verdicts.map((v) => v.verdict.sha256).sort(), fresh.map(sha256).sort(), 'every sheet got its own verdict');
    } finally {
      servedDir = undefined;
      await agent.stop(AbortSignal.timeout(5000));
    }
  });

  const unreadable: Array<{ row: string; make: () => { bytes: Buffer; uri: string; header?: Partial<ImageHeader> }; reason: RegExp }> = [
    {
      row: 'other bytes at the reference than declared', reason: /do not match the declared SHA-256 [0-9a-f]{64}$/,
      make: () => {
        const path = join(shared, 'swapped.jpg');
        writeFileSync(path, Buffer.from(sheets[1]!).fill(7, 2000, 2100));
        return { bytes: sheets[1]!, uri: pathToFileURL(path).href };
      },
    },
    {
      row: 'a file larger than declared', reason: /holds more than the declared \d+ bytes/,
      make: () => {
        const path = join(shared, 'grown.jpg');
        writeFileSync(path, Buffer.concat([sheets[0]!, Buffer.alloc(10)]));
        return { bytes: sheets[0]!, uri: path };
      },
    },
    { row: 'a missing file', reason: /ENOENT/, make: () => ({ bytes: sheets[0]!, uri: join(shared, 'no-such-file.jpg') }) },
    {
      row: 'a file outside the allowed roots', reason: /outside the allowed roots/,
      make: () => {
        const path = join(elsewhere, 'outside.jpg');
        writeFileSync(path, sheets[0]!);
        return { bytes: sheets[0]!, uri: path };
      },
    },
    {
      row: 'a symlink under the root that leads outside it', reason: /resolves to .*, outside the allowed roots/,
      make: () => {
        const target = join(elsewhere, 'target.jpg');
        writeFileSync(target, sheets[2]!);
        const link = join(shared, 'link.jpg');
        symlinkSync(target, link);
        return { bytes: sheets[2]!, uri: link };
      },
    },
    { row: 'an http URL outside the allowed URL prefixes', reason: /outside the allowed URL prefixes/, make: () => ({ bytes: sheets[0]!, uri: 'http://127.0.0.1:9/sheet.jpg' }) },
    {
      row: 'a FIFO (refused at once as not a regular file, holding no thread)', reason: /is not a regular file/,
      make: () => {
        const fifo = join(shared, 'pipe.jpg');
        execFileSync('mkfifo', [fifo]);
        return { bytes: sheets[0]!, uri: fifo };
      },
    },
  ];
  for (const testCase of unreadable) {
    it(`${testCase.row} -> retryable IMAGE_REFERENCE_UNREADABLE naming the cause`, async () => {
      const { bytes, uri, header } = testCase.make();
      const answer = await submitReference(bytes, uri, header);
      assert.ok(answer.rejection, `rejected (got ${JSON.stringify(answer.verdict)})`);
      assert.equal(answer.rejection.code, 'IMAGE_REFERENCE_UNREADABLE');
      assert.equal(answer.rejection.retryable, true, 'retryable: never remembered as the image\'s answer, so its bytes can follow');
      assert.match(answer.rejection.reason, testCase.reason);
    });
  }

  it('the same key resent with its bytes after an unreadable reference gets its verdict', async () => {
    const bytes = sheets[3]!;
    const refused = await submitReference(bytes, join(elsewhere, 'never-written.jpg'), { idempotencyKey: 'by-reference-station:resend' });
    assert.equal(refused.rejection?.code, 'IMAGE_REFERENCE_UNREADABLE');
    answers.delete('by-reference-station:resend');
    const header: ImageHeader = {
      idempotencyKey: 'by-reference-station:resend', stationId: 'by-reference-station', barcode: '', captureTime: new Date().toISOString(),
      contentType: 'image/jpeg', sizeBytes: bytes.length, sha256: sha256(bytes), fileName: 'QS-resend.jpg', modelName: '', priority: 'PRIORITY_REALTIME', imageUri: '',
    };
    await session.send({ header });
    await session.send({ chunk: { idempotencyKey: header.idempotencyKey, offset: 0, data: bytes, last: true } });
    await until(() => answers.has(header.idempotencyKey), 60_000, 'the answer to the resend');
    assert.ok(answers.get(header.idempotencyKey)!.verdict, `a verdict (got ${JSON.stringify(answers.get(header.idempotencyKey)!.rejection)})`);
  });

  it('a readable reference to bytes that are not an image -> final UNSUPPORTED_FORMAT from the worker', async () => {
    const bytes = Buffer.from('%PDF-1.7 not an image at all');
    const path = join(shared, 'document.jpg');
    writeFileSync(path, bytes);
    const answer = await submitReference(bytes, path);
    assert.equal(answer.rejection?.code, 'UNSUPPORTED_FORMAT');
    assert.equal(answer.rejection?.retryable, false);
    assert.match(answer.rejection!.reason, /not a JPEG, PNG or TIFF image/);
  });

  it('a reference that is not an absolute path or URL -> INVALID_METADATA from the coordinator', async () => {
    const answer = await submitReference(sheets[0]!, 'relative/QS1.jpg');
    assert.equal(answer.rejection?.code, 'INVALID_METADATA');
    assert.match(answer.rejection!.reason, /imageUri: must be empty, an absolute path/);
  });

  it('a read that hangs (a source that never answers) is unreadable after referenceReadTimeoutMs, and the worker goes on serving', async () => {
    const started = performance.now();
    const answer = await submitReference(sheets[0]!, `${hungPrefix}QS-hung.jpg`);
    assert.equal(answer.rejection?.code, 'IMAGE_REFERENCE_UNREADABLE');
    assert.match(answer.rejection!.reason, new RegExp(`no complete (read|answer) within ${READ_TIMEOUT_MS} ms`));
    assert.ok(performance.now() - started >= READ_TIMEOUT_MS, 'answered once the read timed out');
    const path = join(shared, 'after-hang.jpg');
    writeFileSync(path, sheets[1]!);
    const next = await submitReference(sheets[1]!, path);
    assert.ok(next.verdict, `the worker serves images again (got ${JSON.stringify(next.rejection)})`);
  });
});
