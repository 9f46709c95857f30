// JetStream publications across a nats-server crash (real server, restarted on the same port and store).
// To have publications certainly in flight when it dies, the server is frozen (SIGSTOP, every thread
// seen stopped in /proc) while they are sent, then killed (SIGKILL closes its sockets). A plain nats.js publish sent then waits out its whole
// timeout even after the server is back (the control); publishThroughDrops republishes at the
// reconnection, each message stored once; publishUnlessDropped gives up at the drop itself.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JetStreamClient, NatsConnection } from 'nats';
import { connectNats } from '../../common/src/adapters/nats-connect.js';
import { ConnectionWatch, publishThroughDrops, publishUnlessDropped } from '../../common/src/adapters/nats-publish.js';
import { QuicksilverError } from '../../common/src/errors.js';
import { NatsServerProcess, natsServerAvailable } from '../../common/src/nats-server-process.js';

const PUBLISH_TIMEOUT_MS = 60_000;
const IN_FLIGHT = 20;
const payload = new TextEncoder().encode('{"sheet":1}');

type Outcome = { settledAt: number; error?: unknown };
const track = (publishing: Promise<unknown>): { outcome: Outcome | undefined } => {
  const handle: { outcome: Outcome | undefined } = { outcome: undefined };
  publishing.then(() => { handle.outcome = { settledAt: performance.now() }; }, (error: unknown) => { handle.outcome = { settledAt: performance.now(), error }; });
  return handle;
};

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('JetStream publications across a nats-server crash', { timeout: 90_000, skip: !natsServerAvailable() && 'nats-server not installed' }, () => {
  let dir: string;
  let nats: NatsServerProcess;
  let connection: NatsConnection;
  let js: JetStreamClient;
  let watch: ConnectionWatch;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qs-nats-drops-'));
    nats = new NatsServerProcess(dir);
    await nats.start();
    connection = await connectNats({ servers: [nats.url], name: 'drops-test' }, { maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    await (await connection.jetstreamManager()).streams.add({ name: 'DROPS', subjects: ['drops.>'] });
    js = connection.jetstream();
    watch = new ConnectionWatch(connection);
  });
  after(async () => {
    await connection?.close();
    await nats?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  /** SIGSTOP returns before the process has stopped: its threads may still read and answer for a moment. */
  async function freeze(pid: number): Promise<void> {
    process.kill(pid, 'SIGSTOP');
    const stopped = () => readdirSync(`/proc/${pid}/task`).every((task) => {
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
      return stat.charAt(stat.lastIndexOf(')') + 2) === 'T';
    });
    await until(stopped, 5000, `every thread of nats-server ${pid} stopped`);
  }

  /** Sends `publish(i)` for IN_FLIGHT messages while the server is frozen, then kills it. */
  async function crashWithPublicationsInFlight<T>(publish: (i: number) => Promise<T>) {
    // A publication acknowledged first: after a restart, JetStream is up again (else a publish may fail fast).
    await js.publish('drops.ready', payload, { msgID: `ready-${performance.now()}`, timeout: 10_000 });
    await connection.flush();
    assert.ok(watch.connected, 'the watch sees the connection up');
    await freeze(nats.pid!);
    const handles = Array.from({ length: IN_FLIGHT }, (_, i) => track(publish(i)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const settled = handles.filter((handle) => handle.outcome !== undefined);
    assert.equal(settled.length, 0, `nothing is acknowledged by a frozen server (settled: ${settled.map((handle) => String(handle.outcome!.error ?? 'acknowledged')).join('; ')})`);
    await nats.kill();
    return handles;
  }

  it('publishThroughDrops republishes at the reconnection; a plain publish waits out its timeout', async () => {
    let control: ReturnType<typeof track>[] = [];
    const ours = await crashWithPublicationsInFlight((i) => {
      if (i % 2 === 0) control.push(track(js.publish('drops.plain', payload, { msgID: `plain-${i}`, timeout: PUBLISH_TIMEOUT_MS })));
      return publishThroughDrops(js, watch, 'drops.ours', payload, { msgID: `ours-${i}`, timeout: PUBLISH_TIMEOUT_MS });
    });
    await until(() => !watch.connected, 5000, 'the client saw the drop');
    // Sent while the client reconnects: these wait for the reconnection.
    const whileDown = Array.from({ length: 5 }, (_, i) => track(publishThroughDrops(js, watch, 'drops.ours', payload, { msgID: `down-${i}`, timeout: PUBLISH_TIMEOUT_MS })));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const restartedAt = performance.now();
    await nats.start();
    const all = [...ours, ...whileDown];
    await until(() => all.every((handle) => handle.outcome), 20_000, 'every publication through the drop acknowledged');
    for (const handle of all) assert.equal(handle.outcome!.error, undefined, String(handle.outcome!.error));
    const slowest = Math.max(...all.map((handle) => handle.outcome!.settledAt - restartedAt));
    assert.ok(control.every((handle) => handle.outcome === undefined),
      `a plain publish sent to the crashed server is still waiting ${Math.round(slowest)} ms after the restart (the control)`);
    control = [];
    const manager = await connection.jetstreamManager();
    const stored = (subject: string) => manager.streams.info('DROPS', { subjects_filter: subject }).then((info) => info.state.subjects?.[subject] ?? 0);
    assert.equal(await stored('drops.ours'), IN_FLIGHT + 5, 'each message stored exactly once');
    // Publications on a healthy connection leave nothing waiting for a drop that may never come.
    await Promise.all(Array.from({ length: 200 }, (_, i) => publishUnlessDropped(js, watch, 'drops.steady', payload, { msgID: `steady-${i}`, timeout: PUBLISH_TIMEOUT_MS })));
    assert.equal(watch.waitingForDrop, 0, 'no drop listener left behind by settled publications');
  });

  it('publishUnlessDropped fails at the drop itself with a retryable UNAVAILABLE', async () => {
    await until(() => watch.connected, 10_000, 'connected again');
    const killedAt = { at: 0 };
    const handles = await crashWithPublicationsInFlight((i) => publishUnlessDropped(js, watch, 'drops.unless', payload, { msgID: `unless-${i}`, timeout: PUBLISH_TIMEOUT_MS }));
    killedAt.at = performance.now();
    await until(() => handles.every((handle) => handle.outcome), 10_000, 'every publication failed once the connection dropped');
    for (const handle of handles) {
      const error = handle.outcome!.error;
      assert.ok(error instanceof QuicksilverError && error.code === 'UNAVAILABLE' && error.retryable, String(error));
      assert.match(error.message, /dropped before unless-\d+ was acknowledged/);
    }
    await assert.rejects(publishUnlessDropped(js, watch, 'drops.unless', payload, { msgID: 'unless-late', timeout: PUBLISH_TIMEOUT_MS }), /NATS is disconnected/);
    await nats.start();
  });
});
