// A re-scan test bed of real processes: nats-server, coordinator and workers started as `quicksilver`
// CLI processes (so they can be SIGKILLed), the fast tiny CNN, small generated JPEGs in an archive
// folder, and manifests written as streams.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { freePort, LocalProcesses, type RunningProcess } from '../../common/src/local-processes.js';
import { NatsServerProcess, type NatsServerSecurity } from '../../common/src/nats-server-process.js';
import { cliEntry } from '../../common/src/paths.js';
import { RescanJetStream, type RescanLayoutOptions } from '../../common/src/rescan/adapters/jetstream-rescan.js';
import type { JobRecord, RescanResult } from '../../common/src/rescan/records.js';
import { writeTinyCnnModel } from '../support/tiny-cnn-model.js';

export interface RescanFixture {
  dir: string;
  archive: string;
  nats: NatsServerProcess;
  store: RescanJetStream;
  coordinator: RunningProcess;
  coordinatorMetricsPort: number;
  workers: RunningProcess[];
  startCoordinator(): Promise<RunningProcess>;
  startWorker(name: string): Promise<RunningProcess>;
  /** Runs `quicksilver rescan <args>` with this fixture's NATS and roots; resolves with stdout/stderr. */
  cli(args: string[], onStderr?: (text: string) => void): Promise<CliRun>;
  /** The same, with the child process at hand (to kill it). */
  startCli(args: string[], onStderr?: (text: string) => void): { child: ChildProcess; done: Promise<CliRun> };
  stop(): Promise<void>;
}

export interface CliRun { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

export const IMAGE_COUNT = 16;

/** Workers serve tiny-cnn 1.0.0 and, with `secondModel`, tiny-cnn 2.0.0 (other weights) for diff reports. */
export async function startRescanFixture(options: {
  workers: number;
  secondModel?: boolean;
  /** Extra `quicksilver worker` flags (e.g. --rescan-allowed-url-prefixes). */
  workerFlags?: string[];
  /** Extra flags for every `quicksilver rescan` command. */
  cliFlags?: string[];
  /** Stream settings (created by the fixture before any process runs), e.g. a short duplicate window. */
  layout?: RescanLayoutOptions;
  /** A nats-server with these users; `credentials` says which one each process (and `store`) connects as. */
  nats?: { security: NatsServerSecurity; credentials: Record<'coordinator' | 'worker' | 'cli' | 'store', { user: string; password: string }> };
}): Promise<RescanFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'qs-rescan-'));
  const archive = join(dir, 'archive');
  mkdirSync(archive, { recursive: true });
  for (let i = 0; i < IMAGE_COUNT; i++) {
    const jpeg = await sharp({ create: { width: 48, height: 64, channels: 3, background: { r: 120 + i * 8, g: 200 - i * 6, b: 90 + i * 4 } } }).jpeg().toBuffer();
    await sharp(jpeg).toFile(join(archive, `sheet-${i}.jpg`));
  }
  const modelsDir = join(dir, 'models');
  await writeTinyCnnModel(modelsDir, { size: 16, version: '1.0.0' });
  if (options.secondModel) await writeTinyCnnModel(modelsDir, { size: 16, version: '2.0.0', seed: 777 });
  const nats = new NatsServerProcess(join(dir, 'nats'), options.nats?.security);
  const login = (who: 'coordinator' | 'worker' | 'cli') => {
    const credentials = options.nats?.credentials[who];
    return credentials ? ['--nats-user', credentials.user, '--nats-password', credentials.password] : [];
  };
  const storeCredentials = options.nats?.credentials.store;
  await nats.start();
  const processes = new LocalProcesses(join(dir, 'logs'));
  // If the test process dies (e.g. the runner's timeout sends SIGTERM), take its children with it.
  const spawned: RunningProcess[] = [];
  const killChildren = () => { for (const { child } of spawned) if (child.exitCode === null) child.kill('SIGKILL'); };
  const onSignal = () => { killChildren(); process.exit(1); };
  process.once('exit', killChildren);
  process.once('SIGTERM', onSignal);
  const start = (name: string, args: string[]) => {
    const running = processes.start(name, args);
    spawned.push(running);
    return running;
  };
  const grpcPort = await freePort();
  const coordinatorMetricsPort = await freePort();
  let generation = 0;

  const fixture: RescanFixture = {
    dir, archive, nats, coordinatorMetricsPort, workers: [],
    store: await RescanJetStream.connect([nats.url], 'qs-test', options.layout, storeCredentials && { natsUser: storeCredentials.user, natsPassword: storeCredentials.password }),
    coordinator: undefined as unknown as RunningProcess,
    async startCoordinator() {
      const coordinator = start(`coordinator-${++generation}`, ['coordinator', '--grpc-address', `127.0.0.1:${grpcPort}`, '--metrics-host', '127.0.0.1',
        '--metrics-port', String(coordinatorMetricsPort), '--nats-servers', nats.url, '--outbox-dir', join(dir, 'outbox'), '--rescan-monitor-interval-ms', '1000',
        '--log-level', 'warn', ...login('coordinator')]);
      await processes.waitReady(coordinator, `http://127.0.0.1:${coordinatorMetricsPort}/readyz`, 60_000);
      fixture.coordinator = coordinator;
      return coordinator;
    },
    async startWorker(name) {
      const metricsPort = await freePort();
      const worker = start(name, ['worker', '--coordinator-address', `127.0.0.1:${grpcPort}`, '--worker-id', name, '--models-dir', modelsDir,
        '--health-address', '127.0.0.1:0', '--metrics-host', '127.0.0.1', '--metrics-port', String(metricsPort), '--execution-providers', 'cpu',
        '--decode-concurrency', '2', '--intra-op-threads', '1', '--max-batch-size', '32', '--max-in-flight', '96',
        '--nats-servers', nats.url, '--rescan-allowed-roots', archive, '--log-level', 'warn', ...login('worker'), ...(options.workerFlags ?? [])]);
      await processes.waitReady(worker, `http://127.0.0.1:${metricsPort}/readyz`, 60_000);
      fixture.workers.push(worker);
      return worker;
    },
    cli: (args, onStderr) => fixture.startCli(args, onStderr).done,
    startCli(args, onStderr) {
      const child = spawn(process.execPath, [cliEntry(), 'rescan', ...args, '--nats-servers', nats.url, '--allowed-roots', archive, ...login('cli'), ...(options.cliFlags ?? [])],
        { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); onStderr?.(d.toString()); });
      const done = once(child, 'close').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null, stdout, stderr }));
      return { child, done };
    },
    async stop() {
      await fixture.store.close().catch(() => {});
      await processes.stopAll(5000);
      process.off('exit', killChildren);
      process.off('SIGTERM', onSignal);
      await nats.stop();
      if (!process.env.QS_TEST_KEEP) rmSync(dir, { recursive: true, force: true }); // QS_TEST_KEEP=1 keeps logs and data for a post-mortem
    },
  };
  await fixture.startCoordinator();
  for (let i = 1; i <= options.workers; i++) await fixture.startWorker(`worker-${i}`);
  return fixture;
}

/** Writes a CSV manifest of `rows` data rows over the archive's images; `bad` maps a row index to a raw CSV line. */
export async function writeManifest(file: string, archive: string, rows: number, bad: Map<number, string> = new Map()): Promise<void> {
  const out = createWriteStream(file);
  out.write('barcode,image_uri,taxon\n');
  for (let i = 1; i <= rows; i++) {
    const line = bad.get(i) ?? `QS${String(i).padStart(7, '0')},${archive}/sheet-${i % IMAGE_COUNT}.jpg,Quercus\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Every result of a job, checked to name each manifest line at most once. */
export async function collectResults(store: RescanJetStream, jobId: string): Promise<Map<number, RescanResult>> {
  const byLine = new Map<number, RescanResult>();
  for await (const result of store.results(jobId)) {
    if (byLine.has(result.line)) throw new Error(`line ${result.line} has two results`);
    byLine.set(result.line, result);
  }
  return byLine;
}

/** Resident set size of a process (Linux /proc), in bytes. */
export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

/** Just a nats-server and a store on it (no coordinator or workers), in a temporary folder; `stop` removes it all. */
export async function startRescanStore(name: string): Promise<{ dir: string; nats: NatsServerProcess; store: RescanJetStream; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), `qs-${name}-`));
  const nats = new NatsServerProcess(join(dir, 'nats'));
  await nats.start();
  const store = await RescanJetStream.connect([nats.url], 'qs-test');
  return {
    dir, nats, store,
    stop: async () => {
      await store.close();
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A job record with the defaults the tests do not care about. */
export function jobRecord(jobId: string, state: JobRecord['state'], totalRows?: number): JobRecord {
  const now = new Date().toISOString();
  return { jobId, state, manifest: 'm', model: 'x', createdAt: now, updatedAt: now, totalRows, invalidRows: 0, maxAttempts: 3, ackWaitMs: 60_000, verdicts: 0, failures: 0 };
}
