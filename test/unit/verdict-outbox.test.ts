// The coordinator's durable verdict outbox on a real temp folder, with an in-memory publisher
// standing in for JetStream (its availability is switched by the test).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Counter, Gauge, Registry } from 'prom-client';
import { QuicksilverError } from '../../common/src/errors.js';
import type { VerdictEvent } from '../../common/src/verdict-event.js';
import { VerdictOutbox } from '../../coordinator/src/verdict-outbox.js';

class SwitchablePublisher {
  available = false;
  /** Publications that time out although the connection looks up. */
  failures = 0;
  readonly published: string[] = [];
  async publish(event: VerdictEvent): Promise<void> {
    if (!this.available) throw new QuicksilverError('UNAVAILABLE', 'NATS is not connected');
    if (this.failures > 0 && this.failures--) throw new QuicksilverError('UNAVAILABLE', 'publish acknowledgement timed out');
    this.published.push(event.idempotencyKey);
  }
}

const event = (n: number): VerdictEvent => ({
  schema: 'quicksilver.verdict.v1', idempotencyKey: `s1:${String(n).padStart(64, '0')}`, stationId: 's1', barcode: '', fileName: `f${n}.jpg`,
  sha256: String(n).padStart(64, '0'), captureTime: '2026-11-27T10:00:00.000Z', label: 'clean', flagged: false, score: 0.1, threshold: 0.5,
  model: { name: 'm', version: '1' }, worker: { id: 'w', executionProvider: 'cpu' },
  timingsMs: { upload: 1, queue: 1, transfer: 1, decode: 1, inference: 1, total: 5 }, decidedAt: '2026-11-27T10:00:01.000Z',
});

const until = async (condition: () => boolean, what: string) => {
  for (const deadline = Date.now() + 5000; !condition();) {
    assert.ok(Date.now() < deadline, what);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

function newOutbox(dir: string, publisher: SwitchablePublisher, maxBytes = 1 << 20) {
  const registry = new Registry();
  const metrics = {
    depth: new Gauge({ name: 'depth', help: 'd', registers: [registry] }),
    bytes: new Gauge({ name: 'bytes', help: 'b', registers: [registry] }),
    publishFailures: new Counter({ name: 'failures', help: 'f', registers: [registry] }),
  };
  return { outbox: new VerdictOutbox({ dir, maxBytes, publisher, logger: pino({ level: 'silent' }), metrics, retryBaseDelayMs: 10, retryMaxDelayMs: 20 }), registry };
}

describe('VerdictOutbox', { timeout: 30_000 }, () => {
  let root: string;
  before(async () => { root = await mkdtemp(join(tmpdir(), 'outbox-')); });
  after(() => rm(root, { recursive: true, force: true }));

  it('publishes directly while NATS is available; a failed publication is kept, counted and retried', async () => {
    const publisher = new SwitchablePublisher();
    publisher.available = true;
    const { outbox, registry } = newOutbox(join(root, 'direct'), publisher);
    await outbox.start();
    assert.equal(await outbox.deliver(event(1)), 'published');
    assert.deepEqual(publisher.published, [event(1).idempotencyKey]);
    assert.equal((await stat(join(root, 'direct', 'verdicts.jsonl'))).size, 0);
    publisher.failures = 2;
    assert.equal(await outbox.deliver(event(2)), 'queued');
    await until(() => outbox.depth === 0, 'retried until published');
    assert.deepEqual(publisher.published, [event(1).idempotencyKey, event(2).idempotencyKey]);
    assert.match(await registry.getSingleMetricAsString('failures'), /failures 2/);
    await outbox.stop(AbortSignal.timeout(1000));
  });

  it('stores verdicts durably while NATS is away, survives a restart, then publishes them in order once', async () => {
    const dir = join(root, 'outage');
    const publisher = new SwitchablePublisher();
    const first = newOutbox(dir, publisher);
    await first.outbox.start();
    for (let n = 1; n <= 3; n++) assert.equal(await first.outbox.deliver(event(n)), 'queued');
    assert.equal(first.outbox.depth, 3);
    assert.match(await first.registry.getSingleMetricAsString('depth'), /depth 3/);
    const lines = (await readFile(join(dir, 'verdicts.jsonl'), 'utf8')).trim().split('\n');
    assert.deepEqual(lines.map((line) => JSON.parse(line).fileName), ['f1.jpg', 'f2.jpg', 'f3.jpg']);
    await first.outbox.stop(AbortSignal.timeout(100));

    // A crash mid-append leaves a torn last line: it is cut off (that verdict was never answered).
    await appendFile(join(dir, 'verdicts.jsonl'), '{"schema":"quicksilver.verd');
    const second = newOutbox(dir, publisher);
    await second.outbox.start();
    assert.equal(second.outbox.depth, 3);
    assert.equal(await second.outbox.deliver(event(4)), 'queued', 'queued behind the backlog, not published ahead of it');
    publisher.available = true;
    second.outbox.kick();
    await until(() => second.outbox.depth === 0, 'outbox drained');
    assert.deepEqual(publisher.published, [1, 2, 3, 4].map((n) => event(n).idempotencyKey));
    // Compaction follows the last publication; stop() waits for it (the log was checked before it once, and raced).
    await second.outbox.stop(AbortSignal.timeout(1000));
    assert.equal((await stat(join(dir, 'verdicts.jsonl'))).size, 0, 'log emptied once everything is published');

    const third = newOutbox(dir, publisher);
    await third.outbox.start();
    assert.equal(third.outbox.depth, 0, 'nothing published twice after a restart');
    await third.outbox.stop(AbortSignal.timeout(100));
  });

  it('a cursor left beyond the log by a crash during compaction skips nothing appended later, across restarts', async () => {
    const dir = join(root, 'stale-cursor');
    const publisher = new SwitchablePublisher();
    const line = JSON.stringify(event(1)).length + 1;
    // What a crash between emptying the log and saving the cursor left before the fix: an empty log, a cursor of 2.5 entries.
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'verdicts.jsonl'), '');
    await writeFile(join(dir, 'cursor.json'), JSON.stringify({ publishedBytes: Math.round(2.5 * line) }));
    const first = newOutbox(dir, publisher);
    await first.outbox.start();
    for (let n = 11; n <= 14; n++) assert.equal(await first.outbox.deliver(event(n)), 'queued');
    await first.outbox.stop(AbortSignal.timeout(100));
    const second = newOutbox(dir, publisher);
    await second.outbox.start();
    assert.equal(second.outbox.depth, 4, 'all four appended verdicts are still waiting');
    publisher.available = true;
    second.outbox.kick();
    await until(() => second.outbox.depth === 0, 'outbox drained');
    assert.deepEqual(publisher.published, [11, 12, 13, 14].map((n) => event(n).idempotencyKey));
    await second.outbox.stop(AbortSignal.timeout(1000));
  });

  it('once drained, leaves an empty log and a saved cursor of 0', async () => {
    const dir = join(root, 'compaction');
    const publisher = new SwitchablePublisher();
    const { outbox } = newOutbox(dir, publisher);
    await outbox.start();
    for (let n = 1; n <= 3; n++) await outbox.deliver(event(n));
    publisher.available = true;
    outbox.kick();
    await until(() => outbox.depth === 0, 'outbox drained');
    await outbox.stop(AbortSignal.timeout(1000));
    assert.equal((await stat(join(dir, 'verdicts.jsonl'))).size, 0, 'log emptied');
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'cursor.json'), 'utf8')), { publishedBytes: 0 });
  });

  it('refuses with a retryable OVERLOADED once full, and takes verdicts again after draining', async () => {
    const publisher = new SwitchablePublisher();
    const { outbox } = newOutbox(join(root, 'full'), publisher, 2 * JSON.stringify(event(1)).length + 2);
    await outbox.start();
    await outbox.deliver(event(1));
    await outbox.deliver(event(2));
    assert.equal(outbox.isFull, true);
    await assert.rejects(outbox.deliver(event(3)), (error: QuicksilverError) => error.code === 'OVERLOADED' && error.retryable);
    publisher.available = true;
    outbox.kick();
    await until(() => outbox.depth === 0, 'drained');
    assert.equal(outbox.isFull, false);
    assert.equal(await outbox.deliver(event(3)), 'published');
    await outbox.stop(AbortSignal.timeout(1000));
  });

  it('belongs to one coordinator at a time: a live owner\'s folder is refused, a dead owner\'s lock taken over', async () => {
    const dir = join(root, 'locked');
    const publisher = new SwitchablePublisher();
    const owner = newOutbox(dir, publisher);
    await owner.outbox.start();
    // Another live process (pid 1 is always alive) holding the lock:
    await writeFile(join(dir, 'lock'), '1');
    await assert.rejects(newOutbox(dir, publisher).outbox.start(), (error: QuicksilverError) => error.code === 'CONFIG_INVALID' && /in use by process 1/.test(error.message));
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    await writeFile(join(dir, 'lock'), dead);
    const successor = newOutbox(dir, publisher);
    await successor.outbox.start();
    assert.equal(await readFile(join(dir, 'lock'), 'utf8'), String(process.pid));
    await successor.outbox.stop(AbortSignal.timeout(100));
    await owner.outbox.stop(AbortSignal.timeout(100));
  });
});
