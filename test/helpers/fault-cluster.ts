// A whole Quicksilver installation as real processes for fault-injection tests: nats-server
// (JetStream, fixed port and store so it can be restarted), a coordinator, workers and one station
// agent, each started through the `quicksilver` CLI so they can be SIGKILLed, SIGSTOPped and
// restarted. A feeder writes a steady stream of small distinct JPEGs into the hot folder the way a
// scanner does; the audit reads back every JetStream record and every filed image.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { NatsVerdictSubscriber } from '../../common/src/adapters/nats-verdict-subscriber.js';
import { freePort, LocalProcesses, type RunningProcess } from '../../common/src/local-processes.js';
import { NatsServerProcess } from '../../common/src/nats-server-process.js';
import { writeTinyCnnModel } from '../support/tiny-cnn-model.js';

export const STATION = 'fault-station';

export interface FaultClusterOptions {
  workers?: number;
  /** Extra `quicksilver worker` flags (e.g. a long batching delay so tasks sit in flight). */
  workerFlags?: string[];
  coordinatorFlags?: string[];
  /** The agent sends its images by reference (its spool) and the workers may read that spool. */
  byReference?: boolean;
}

export interface Feed {
  /** File name -> idempotency key of every image written so far. */
  readonly images: Map<string, string>;
  /** Resolves once `count` images are written. */
  fed(count: number): Promise<void>;
  done: Promise<void>;
}

export interface Audit {
  /** JetStream records per Nats-Msg-Id. */
  records: Map<string, number>;
  /** Fed file name -> where it was filed. */
  filedIn: Map<string, 'done' | 'rejected'>;
  rejected: Array<{ name: string; code: string; reason: string }>;
}

export class FaultCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'qs-faults-'));
  readonly hotFolder = join(this.dir, 'hot-folder');
  readonly nats = new NatsServerProcess(join(this.dir, 'nats'));
  readonly processes = new LocalProcesses(join(this.dir, 'logs'));
  coordinator: RunningProcess | undefined;
  agent: RunningProcess | undefined;
  readonly workers = new Map<string, RunningProcess>();
  private readonly paused = new Set<RunningProcess>();
  private grpcPort = 0;
  private metricsPort = 0;
  private starts = 0;

  private constructor(private readonly options: FaultClusterOptions) {}

  static async start(options: FaultClusterOptions = {}): Promise<FaultCluster> {
    const cluster = new FaultCluster(options);
    try {
      await writeTinyCnnModel(join(cluster.dir, 'models'));
      await cluster.nats.start();
      cluster.grpcPort = await freePort();
      cluster.metricsPort = await freePort();
      await cluster.startCoordinator();
      for (let i = 1; i <= (options.workers ?? 2); i++) await cluster.startWorker(`w${i}`);
      await cluster.startAgent();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  get coordinatorAddress(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }

  /** Starts (or restarts) the coordinator on the same address, outbox and metrics port. */
  async startCoordinator(): Promise<void> {
    this.coordinator = this.processes.start(`coordinator-${++this.starts}`, [
      'coordinator', '--grpc-address', this.coordinatorAddress, '--metrics-host', '127.0.0.1', '--metrics-port', String(this.metricsPort),
      '--nats-servers', `nats://127.0.0.1:${this.nats.port}`, '--outbox-dir', join(this.dir, 'outbox'), '--default-model', 'tiny-cnn',
      '--heartbeat-interval-ms', '500', '--heartbeat-timeout-ms', '2000', '--task-timeout-ms', '30000', '--max-task-attempts', '6',
      '--shutdown-grace-ms', '3000', ...(this.options.coordinatorFlags ?? []),
    ]);
    await this.processes.waitReady(this.coordinator, `http://127.0.0.1:${this.metricsPort}/readyz`, 30_000);
  }

  async startWorker(id: string): Promise<void> {
    const port = await freePort();
    const worker = this.processes.start(`worker-${id}-${++this.starts}`, [
      'worker', '--coordinator-address', this.coordinatorAddress, '--worker-id', id, '--models-dir', join(this.dir, 'models'),
      '--execution-providers', 'cpu', '--health-address', '127.0.0.1:0', '--metrics-host', '127.0.0.1', '--metrics-port', String(port),
      '--decode-concurrency', '1', '--intra-op-threads', '1', '--reconnect-max-delay-ms', '1000', '--shutdown-grace-ms', '3000',
      ...(this.options.byReference ? ['--reference-allowed-roots', join(this.hotFolder, 'spool')] : []),
      ...(this.options.workerFlags ?? []),
    ]);
    this.workers.set(id, worker);
    await this.processes.waitReady(worker, `http://127.0.0.1:${port}/readyz`, 30_000);
  }

  async startAgent(): Promise<void> {
    const agent = this.processes.start(`agent-${++this.starts}`, [
      'agent', '--coordinator-address', this.coordinatorAddress, '--watch-dir', this.hotFolder, '--station-id', STATION,
      '--stability-threshold-ms', '200', '--poll-interval-ms', '50', '--reconnect-base-delay-ms', '100', '--reconnect-max-delay-ms', '1000',
      '--retry-base-delay-ms', '200', '--retry-max-delay-ms', '1000', '--verdict-timeout-ms', '20000', '--shutdown-grace-ms', '3000',
      '--metrics-port', '0', '--display', 'false',
      ...(this.options.byReference ? ['--spool-uri-prefix', `${pathToFileURL(join(this.hotFolder, 'spool')).href}/`] : []),
    ]);
    this.agent = agent;
    await waitFor(async () => (await readFile(agent.logFile, 'utf8').catch(() => '')).includes('agent watching the hot folder'), 30_000, 'agent start', agent);
  }

  /** Sends `signal` to a process and, for SIGKILL/SIGTERM, waits for it to exit. */
  async signal(process: RunningProcess, signal: NodeJS.Signals): Promise<void> {
    const exited = process.child.exitCode === null && process.child.signalCode === null
      ? new Promise((resolve) => process.child.once('exit', resolve)) : Promise.resolve();
    process.child.kill(signal);
    if (signal === 'SIGSTOP') this.paused.add(process);
    if (signal === 'SIGCONT') this.paused.delete(process);
    if (signal === 'SIGKILL' || signal === 'SIGTERM') await exited;
  }

  /** A coordinator metric's value (summed over series whose labels include `labels`). */
  async coordinatorMetric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
      if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  /** Writes `count` distinct small JPEGs (<prefix>00000001.jpg ...), one every `intervalMs`, as <name>.part renamed to <name>. */
  feed(count: number, intervalMs: number, prefix = 'QS'): Feed {
    const images = new Map<string, string>();
    const waiters: Array<() => void> = [];
    const done = (async () => {
      for (let i = 1; i <= count; i++) {
        const bytes = await sharp({ create: { width: 160, height: 120, channels: 3, background: '#c8b490', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg().toBuffer();
        const name = `${prefix}${String(i).padStart(8, '0')}.jpg`;
        await writeFile(join(this.hotFolder, `${name}.part`), bytes);
        await rename(join(this.hotFolder, `${name}.part`), join(this.hotFolder, name));
        images.set(name, `${STATION}:${createHash('sha256').update(bytes).digest('hex')}`);
        waiters.splice(0).forEach((wake) => wake());
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    })();
    const fed = async (n: number) => {
      while (images.size < n) await new Promise<void>((resolve) => waiters.push(resolve));
    };
    return { images, fed, done };
  }

  /** The coordinator's "worker lost" log records for `workerId` (with the tasks it held), across its restarts. */
  async workerLosses(workerId: string): Promise<Array<{ orphanedTasks: number; reason: string }>> {
    const losses = [];
    for (const name of await readdir(join(this.dir, 'logs'))) {
      if (!name.startsWith('coordinator-')) continue;
      for (const line of (await readFile(join(this.dir, 'logs', name), 'utf8')).split('\n')) {
        if (!line.includes('"msg":"worker lost"')) continue;
        const record = JSON.parse(line) as { worker: string; orphanedTasks: number; reason: string };
        if (record.worker === workerId) losses.push(record);
      }
    }
    return losses;
  }

  /** Waits until every fed image is filed in done/ or rejected/ and the spool is empty. */
  async waitAllFiled(feed: Feed, timeoutMs: number): Promise<void> {
    await feed.done;
    let missing: string[] = [];
    let spool: string[] = [];
    try {
      await waitFor(async () => {
        const filed = await this.filedNames();
        spool = await readdir(join(this.hotFolder, 'spool')).catch(() => ['?']);
        missing = [...feed.images.keys()].filter((name) => !filed.has(name));
        return missing.length === 0 && spool.length === 0;
      }, timeoutMs, 'every image filed and the spool empty', this.agent);
    } catch (error) {
      const hot = new Set(await readdir(this.hotFolder));
      const filed = [...(await this.filedNames())];
      const whereabouts = missing.map((name) => `${name}: ${hot.has(name) ? 'in the hot folder' : 'not in the hot folder'}, filed as [${filed.filter((f) => f.startsWith(name.slice(0, name.lastIndexOf('.'))))}]`);
      throw new Error(`${(error as Error).message}\nnot filed: ${whereabouts.join('; ') || 'none'}\nspool: ${spool.join(', ') || 'empty'}`);
    }
  }

  /** Every JetStream record and every filed image, checked against the feed. */
  async audit(feed: Feed): Promise<Audit> {
    const subscriber = new NatsVerdictSubscriber([this.nats.url]);
    await subscriber.start(() => {});
    const stored = await subscriber.readStream();
    await subscriber.stop();
    const records = new Map<string, number>();
    for (const record of stored) {
      assert.equal(record.event.idempotencyKey, record.msgId, 'message id = idempotency key');
      records.set(record.msgId, (records.get(record.msgId) ?? 0) + 1);
    }
    const filedIn = new Map<string, 'done' | 'rejected'>();
    const rejected: Audit['rejected'] = [];
    for (const folder of ['done', 'rejected'] as const) {
      for (const name of await readdir(join(this.hotFolder, folder))) {
        if (name.endsWith('.json')) continue;
        assert.ok(!filedIn.has(name), `${name} filed twice (done/ and rejected/)`);
        filedIn.set(name, folder);
        if (folder === 'rejected') rejected.push({ name, ...JSON.parse(await readFile(join(this.hotFolder, folder, `${name}.reason.json`), 'utf8')) });
        else if (feed.images.has(name)) {
          assert.equal(JSON.parse(await readFile(join(this.hotFolder, folder, `${name}.verdict.json`), 'utf8')).idempotencyKey, feed.images.get(name), `${name}: verdict of its own bytes`);
        }
      }
    }
    return { records, filedIn, rejected };
  }

  /** The acceptance check: zero images lost, zero duplicate verdicts, nothing rejected. */
  async assertExactlyOnce(feed: Feed): Promise<Audit> {
    const audit = await this.audit(feed);
    assert.deepEqual(audit.rejected, [], 'no image rejected');
    assert.deepEqual([...audit.filedIn.keys()].sort(), [...feed.images.keys()].sort(), 'every image filed exactly once, under its own name (no ~1 copies)');
    const duplicates = [...audit.records].filter(([, count]) => count > 1);
    assert.deepEqual(duplicates, [], 'one JetStream record per idempotency key');
    assert.deepEqual([...audit.records.keys()].sort(), [...feed.images.values()].sort(), 'a record for every image, and none other');
    return audit;
  }

  async stop(): Promise<void> {
    for (const running of this.paused) running.child.kill('SIGCONT');
    await this.processes.stopAll(5000);
    await this.nats.stop();
    if (!process.env.QS_KEEP_FAULT_DIRS) rmSync(this.dir, { recursive: true, force: true });
  }

  private async filedNames(): Promise<Set<string>> {
    const names = new Set<string>();
    for (const folder of ['done', 'rejected']) {
      for (const name of await readdir(join(this.hotFolder, folder)).catch(() => [])) if (!name.endsWith('.json')) names.add(name);
    }
    return names;
  }
}

/** Several feeds audited as one. */
/** The feeds as one; its images are known once every feed is done (feeds may still be writing when this is called). */
export function allOf(...feeds: Feed[]): Feed {
  const images = new Map<string, string>();
  const done = Promise.all(feeds.map((feed) => feed.done)).then(() => {
    for (const feed of feeds) for (const [name, key] of feed.images) images.set(name, key);
  });
  return { images, fed: async () => {}, done };
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string, process?: RunningProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${process ? `; see ${process.logFile}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
