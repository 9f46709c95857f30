// `quicksilver demo`: the whole system on embedded defaults, on one machine. Starts nats-server,
// a coordinator, N workers and an agent (real processes, real gRPC, real NATS), lets a simulated
// conveyor write synthetic sheets into the agent's hot folder, prints each verdict live and ends
// with a summary (accuracy against the synthetic truth, throughput, latency, where metrics are).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { parseWhole } from '../../../common/src/cli-options.js';
import { NatsVerdictSubscriber } from '../../../common/src/adapters/nats-verdict-subscriber.js';
import { NATS_INSTALL_HINT, NatsServerProcess, natsServerAvailable } from '../../../common/src/nats-server-process.js';
import { freePort, LocalProcesses } from '../../../common/src/local-processes.js';
import { repoRoot } from '../../../common/src/paths.js';
import { syntheticSheets, type SheetTruth } from '../../../common/src/synth/index.js';

interface DemoOptions {
  count: number;
  intervalMs: number;
  live: boolean;
  workers: number;
  width: number;
  height: number;
  seed: number;
  contaminatedFraction: number;
  metricsPort: number;
  keep: boolean;
  timeoutS: number;
  secure: boolean;
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('run nats-server, a coordinator, workers and an agent fed by a simulated conveyor; print verdicts and a summary')
    .addOption(new Option('--count <n>', 'sheets the conveyor scans (ignored with --live)').argParser(parseWhole).default(36))
    .addOption(new Option('--interval-ms <ms>', 'pause between sheets (a real conveyor: ~7000-10000)').argParser(parseWhole).default(250))
    .option('--live', 'keep scanning until Ctrl-C, like a live conveyor', false)
    .addOption(new Option('--workers <n>', 'gpu-worker processes').argParser(parseWhole).default(2))
    .addOption(new Option('--width <px>', 'sheet width in pixels (real masters ~6700)').argParser(parseWhole).default(1500))
    .addOption(new Option('--height <px>', 'sheet height in pixels (real masters ~9000)').argParser(parseWhole).default(2000))
    .addOption(new Option('--seed <n>', 'seed of the synthetic sheets').argParser(parseWhole).default(20261127))
    .addOption(new Option('--contaminated-fraction <f>', 'share of contaminated sheets').argParser(Number).default(0.25))
    .addOption(new Option('--metrics-port <port>', 'coordinator /metrics port (0 = any free port)').argParser(parseWhole).default(9464))
    .option('--keep', 'keep the demo folder (images, verdicts, logs) afterwards', false)
    .option('--secure', 'dev CA from scripts/dev-certs.sh: mutual TLS for workers, TLS + token for the agent, NATS with a password (docs/security.md)', false)
    .addOption(new Option('--timeout-s <s>', 'give up waiting for verdicts after this long').argParser(parseWhole).default(600))
    .action(async (options: DemoOptions) => runDemo(options));
}

/** Writes a sheet the way a conveyor does: the file appears, grows in pieces, then stops. */
async function conveyorWrite(path: string, bytes: Buffer): Promise<void> {
  const handle = await open(path, 'w');
  try {
    const pieces = 4;
    const step = Math.ceil(bytes.length / pieces);
    for (let offset = 0; offset < bytes.length; offset += step) {
      await handle.write(bytes, offset, Math.min(step, bytes.length - offset));
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
  } finally {
    await handle.close();
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function runDemo(options: DemoOptions): Promise<void> {
  if (!natsServerAvailable()) throw new Error(`nats-server not found on PATH nor in /usr/sbin: ${NATS_INSTALL_HINT}`);
  const dir = mkdtempSync(join(tmpdir(), 'quicksilver-demo-'));
  const logs = join(dir, 'logs');
  const hotFolder = join(dir, 'hot-folder');
  mkdirSync(logs, { recursive: true });
  mkdirSync(hotFolder, { recursive: true });
  const processes = new LocalProcesses(logs);
  const certs = join(dir, 'certs');
  const natsPassword = options.secure ? randomBytes(18).toString('hex') : '';
  const nats = new NatsServerProcess(join(dir, 'nats'), options.secure ? { auth: { user: 'quicksilver', password: natsPassword } } : {});
  // --secure: per-process security flags (the NATS password goes through the environment, not argv).
  const security = {
    coordinator: options.secure ? ['--tls-cert-file', join(certs, 'coordinator.crt'), '--tls-key-file', join(certs, 'coordinator.key'),
      '--tls-client-ca-file', join(certs, 'ca.crt'), '--auth-tokens-file', join(certs, 'tokens.json'), '--nats-user', 'quicksilver'] : [],
    worker: (id: string) => (options.secure ? ['--tls-ca-file', join(certs, 'ca.crt'), '--tls-cert-file', join(certs, `worker-${id}.crt`), '--tls-key-file', join(certs, `worker-${id}.key`)] : []),
    agent: options.secure ? ['--tls-ca-file', join(certs, 'ca.crt'), '--auth-token-file', join(certs, 'station-demo-conveyor-1.token')] : [],
  };
  const subscriber = { instance: undefined as NatsVerdictSubscriber | undefined };
  let interrupted = false;
  const onInterrupt = () => { interrupted = true; };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);

  try {
    console.log(`Quicksilver demo in ${dir}`);
    if (options.secure) {
      const workerIds = Array.from({ length: options.workers }, (_, i) => `demo-worker-${i + 1}`).join(',');
      execFileSync('bash', [join(repoRoot(), 'scripts', 'dev-certs.sh'), '--out', certs, '--stations', 'demo-conveyor-1', '--workers', workerIds], { stdio: 'pipe' });
      console.log(`  dev CA, certificates and tokens in ${certs} (mutual TLS for workers, TLS + token for the agent, NATS password)`);
    } else {
      console.log('  insecure local mode (plaintext gRPC on loopback, no authentication); --secure runs with TLS, mTLS and tokens');
    }
    await nats.start();
    console.log(`  nats-server (JetStream) on ${nats.url}`);
    const grpcPort = await freePort();
    const metricsPort = await freePort(options.metricsPort);
    const coordinatorAddress = `127.0.0.1:${grpcPort}`;
    const coordinator = processes.start('coordinator', ['coordinator', '--grpc-address', coordinatorAddress, '--metrics-port', String(metricsPort), '--nats-servers', nats.url,
      '--outbox-dir', join(dir, 'coordinator-outbox'), ...security.coordinator],
      { env: { ...process.env, ...(options.secure ? { QS_COORDINATOR_NATS_PASSWORD: natsPassword } : {}) } });
    await processes.waitReady(coordinator, `http://127.0.0.1:${metricsPort}/readyz`);
    console.log(`  coordinator on ${coordinatorAddress}, metrics http://127.0.0.1:${metricsPort}/metrics`);

    const workerMetrics: string[] = [];
    for (let i = 1; i <= options.workers; i++) {
      const port = await freePort(i === 1 ? 9465 : 9466 + i); // deploy/prometheus/prometheus.yml scrapes 9465, 9468 (9466: agent)
      const worker = processes.start(`worker-${i}`, ['worker', '--coordinator-address', coordinatorAddress, '--worker-id', `demo-worker-${i}`,
        '--models-dir', join(repoRoot(), 'models'), '--health-address', '127.0.0.1:0', '--metrics-port', String(port), '--decode-concurrency', '1',
        '--intra-op-threads', '1', ...security.worker(`demo-worker-${i}`)]);
      workerMetrics.push(`http://127.0.0.1:${port}/metrics`);
      await processes.waitReady(worker, `http://127.0.0.1:${port}/readyz`);
    }
    console.log(`  ${options.workers} workers ready, metrics ${workerMetrics.join(' ')}`);

    const published: string[] = [];
    subscriber.instance = new NatsVerdictSubscriber([nats.url], options.secure ? { natsUser: 'quicksilver', natsPassword } : {});
    await subscriber.instance.start((event) => published.push(event.idempotencyKey));

    const agentMetricsPort = await freePort(9466);
    processes.start('agent', ['agent', '--coordinator-address', coordinatorAddress, '--watch-dir', hotFolder, '--station-id', 'demo-conveyor-1',
      '--stability-threshold-ms', '300', '--metrics-port', String(agentMetricsPort), ...security.agent], { onLine: (line) => console.log(`  ${line}`) });
    console.log(`  agent metrics http://127.0.0.1:${agentMetricsPort}/metrics`);
    console.log('  Prometheus (alerts included): prometheus --config.file=deploy/prometheus/prometheus.yml --storage.tsdb.path=/tmp/qs-prometheus');
    console.log('  Grafana: provision deploy/grafana (see docs/dashboard.md); feedback: docs/metrics.md');
    console.log(`  agent watching ${hotFolder}\n\nConveyor running (${options.live ? 'live, Ctrl-C to stop' : `${options.count} sheets`}):`);

    const truth = new Map<string, SheetTruth>();
    const startedAt = performance.now();
    const total = options.live ? Number.MAX_SAFE_INTEGER : options.count;
    const sheets = syntheticSheets({ count: total, seed: options.seed, contaminatedFraction: options.contaminatedFraction, width: options.width, height: options.height });
    for await (const sheet of sheets) {
      if (interrupted) break;
      truth.set(sheet.fileName, sheet.truth);
      await conveyorWrite(join(hotFolder, sheet.fileName), sheet.bytes);
      if (options.intervalMs) await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
    }

    const deadline = Date.now() + options.timeoutS * 1000;
    const outcomes = () => ({
      done: safeList(join(hotFolder, 'done')).filter((f) => f.endsWith('.verdict.json')),
      rejected: safeList(join(hotFolder, 'rejected')).filter((f) => f.endsWith('.reason.json')),
    });
    while (!interrupted && Date.now() < deadline) {
      const { done, rejected } = outcomes();
      if (done.length + rejected.length >= truth.size) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const elapsedS = (performance.now() - startedAt) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stored = await subscriber.instance.storedVerdicts();
    printSummary({ hotFolder, truth, elapsedS, published: published.length, stored, metricsPort, workerMetrics, options, outcomes: outcomes() });
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
    await subscriber.instance?.stop().catch(() => {});
    await processes.stopAll();
    await nats.stop();
    if (options.keep) console.log(`Kept ${dir} (images, verdicts, logs).`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

interface VerdictFile { label: string; flagged: boolean; score: number; timings?: { totalMs?: number } }

function printSummary(input: {
  hotFolder: string; truth: Map<string, SheetTruth>; elapsedS: number; published: number; stored: number;
  metricsPort: number; workerMetrics: string[]; options: DemoOptions; outcomes: { done: string[]; rejected: string[] };
}): void {
  const { truth, outcomes } = input;
  let tp = 0, fp = 0, tn = 0, fn = 0;
  const latencies: number[] = [];
  for (const file of outcomes.done) {
    const verdict = JSON.parse(readFileSync(join(input.hotFolder, 'done', file), 'utf8')) as VerdictFile;
    const expected = truth.get(file.replace(/\.verdict\.json$/, ''));
    if (verdict.timings?.totalMs !== undefined) latencies.push(verdict.timings.totalMs);
    if (!expected) continue;
    if (verdict.flagged && expected.contaminated) tp++;
    else if (verdict.flagged) fp++;
    else if (expected.contaminated) fn++;
    else tn++;
  }
  latencies.sort((a, b) => a - b);
  const decided = tp + fp + tn + fn;
  const pct = (n: number, d: number) => (d ? `${((100 * n) / d).toFixed(1)} %` : 'n/a');
  const missing = truth.size - outcomes.done.length - outcomes.rejected.length;
  console.log(`
Summary
  sheets scanned            ${truth.size}
  verdicts                  ${outcomes.done.length}   rejected ${outcomes.rejected.length}   missing ${missing}
  accuracy vs truth         ${pct(tp + tn, decided)}   (contaminated caught ${tp}/${tp + fn} = sensitivity ${pct(tp, tp + fn)}; false alarms ${fp}/${fp + tn})
  throughput                ${(outcomes.done.length / input.elapsedS).toFixed(2)} sheets/s over ${input.elapsedS.toFixed(1)} s (conveyor interval ${input.options.intervalMs} ms, ${input.options.width}x${input.options.height} px)
  latency (coordinator)     p50 ${percentile(latencies, 50).toFixed(0)} ms   p95 ${percentile(latencies, 95).toFixed(0)} ms   max ${(latencies.at(-1) ?? NaN).toFixed(0)} ms
  NATS                      ${input.published} verdict events received on quicksilver.verdict.>; ${input.stored} stored in JetStream stream QUICKSILVER_VERDICTS
  metrics                   coordinator http://127.0.0.1:${input.metricsPort}/metrics; workers ${input.workerMetrics.join(' ')}
                            (served while the demo runs; use --live to keep them up, see deploy/prometheus for scraping)`);
}
