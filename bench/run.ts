// `npm run bench`: Quicksilver's throughput and latency against the physical limit of this machine,
// measured in one run so the ratios hold on a shared, noisy machine. Not a test.
//   1. limit: one process decodes, preprocesses and infers the images with the worker's own engine
//      and settings (every core, dynamic batching) - images/s, at the tuned max batch and at batch 1;
//      then the transport floor (bench/transport-floor.ts): CPU per image of one bare gRPC hop, and
//      the one-host ceiling it sets for end to end (two hops). Both run in child processes with the
//      workers' node flags, as the load generator of phase 2 does;
//   2. end to end: load generator -> coordinator -> worker processes over real gRPC, NATS publishing -
//      images/s at saturation, as a ratio of the limit; then again with the images sent by reference
//      (the worker reads them from a folder it shares with the stations: no image bytes over gRPC),
//      and the ceiling the other processes' CPU leaves on this host (a worker as cheap as in process);
//   3. conveyor latency: stations sending one sheet every few seconds, p50/p95/p99, without and with
//      a saturating bulk (re-scan) load beside them;
//   4. coordinator memory while many small images pass through it;
//   5. a whole-collection re-scan (bench/rescan-phase.ts): rows/s vs the limit, conveyor latency beside it;
//   6. phases 3 and 5 again with a realtime worker beside a bulk-only worker under SCHED_IDLE (or at
//      --bulk-niceness with --no-bulk-idle); then again with one worker that runs its bulk work in a child
//      process under SCHED_IDLE (--bulk-process, the same split in one worker);
//   7. separate hosts approximated: the limit and end to end (bytes, then by reference) again with the
//      worker alone on half the cores (taskset) and the coordinator, nats-server and stations on the other half;
//   8. a fleet of workers of different speeds: conveyor latency with a fast worker alone, then beside a worker
//      made ~10 x slower (niced, its cores busy with other processes), and which worker answered each image.
// Prints a table and writes bench/results/<timestamp>.json with the machine's description (the phases so far at
// the start of each phase, "complete": true at the end).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { extname, join } from 'node:path';
import { Command, Option } from 'commander';
import { parseWhole } from '../common/src/cli-options.js';
import sharp from 'sharp';
import { freePort, LocalProcesses, type RunningProcess } from '../common/src/local-processes.js';
import { SERVICE_NODE_FLAGS } from '../common/src/node-flags.js';
import { NatsServerProcess } from '../common/src/nats-server-process.js';
import { repoRoot } from '../common/src/paths.js';
import { renderSheet } from '../common/src/synth/index.js';
import { allowedCores, pinProcess, tasksetAvailable } from './cpu-affinity.js';
import type { LimitOptions, LimitResult } from './limit.js';
import { rescanArchive, runRescanPhase } from './rescan-phase.js';
import { processCpuSeconds } from './process-cpu.js';
import type { TransportFloor } from './transport-floor.js';
import { latenciesByWorker, percentile, runStation, runStationInChild, startStationInChild, STAGES, toBenchImage, type BenchImage, type StationResult } from './station-load.js';

interface BenchOptions {
  images?: string;
  count: number;
  width: number;
  height: number;
  total: number;
  maxBatch: number;
  queueDelayUs: number;
  workerMaxInFlight: number;
  saturationPriority: 'bulk' | 'realtime';
  workers: number;
  stations: number;
  intervalMs: number;
  latencySeconds: number;
  memoryImages: number;
  answerCacheSize: number;
  rescanRows: number;
  splitWorkers: boolean;
  bulkProcess: boolean;
  bulkNiceness: number;
  bulkIdle: boolean;
  isolatedWorker: boolean;
  mixedFleet: boolean;
  slowWorkerNiceness: number;
  providers: string;
  out: string;
}


const program = new Command('bench')
  .description('measure Quicksilver end to end against the in-process limit of this machine')
  .option('--images <dir>', 'folder of JPEG/TIFF/PNG sheets to use (default: synthetic sheets)')
  .addOption(new Option('--count <n>', 'synthetic sheets to generate').argParser(parseWhole).default(16))
  // The conveyors' high-resolution JPEG masters are ~6,737 x 9,050 px (docs/performance.md); 2400 x 3200 was the default until 2026-11-29.
  .addOption(new Option('--width <px>', 'synthetic sheet width (default: a conveyor master\'s)').argParser(parseWhole).default(6737))
  .addOption(new Option('--height <px>', 'synthetic sheet height').argParser(parseWhole).default(9050))
  .addOption(new Option('--total <n>', 'images per throughput measurement').argParser(parseWhole).default(480))
  .addOption(new Option('--max-batch <n>', 'worker max batch size (tuned setting)').argParser(parseWhole).default(8))
  .addOption(new Option('--queue-delay-us <us>', 'worker max queue delay').argParser(parseWhole).default(2000))
  .addOption(new Option('--worker-max-in-flight <n>', 'tasks each worker takes at once (its credit; 0 = the worker\'s default, 3 x max batch)').argParser(parseWhole).default(0))
  .addOption(new Option('--saturation-priority <class>', 'priority class of the saturating load of phase 2 (bulk: a re-scan through the coordinator; realtime: many conveyors)').choices(['bulk', 'realtime']).default('bulk'))
  .addOption(new Option('--workers <n>', 'worker processes end to end').argParser(parseWhole).default(1))
  .addOption(new Option('--stations <n>', 'conveyor stations in the latency phase').argParser(parseWhole).default(4))
  .addOption(new Option('--interval-ms <ms>', 'one sheet per station every this long in the latency phase').argParser(parseWhole).default(1500))
  .addOption(new Option('--latency-seconds <s>', 'duration of each latency phase (4 stations x 40 s at 1.5 s: ~107 sheets, so p99 is not the maximum)').argParser(parseWhole).default(40))
  .addOption(new Option('--memory-images <n>', 'small images through the coordinator in the memory phase (0 = skip)').argParser(parseWhole).default(10_000))
  .addOption(new Option('--answer-cache-size <n>', 'coordinator answers kept for resends and verdicts kept for feedback joins (feedbackIndexSize): the per-image memory that grows, up to this bound; kept small so the memory phase shows everything else flat').argParser(parseWhole).default(2000))
  .addOption(new Option('--rescan-rows <n>', 'rows of each re-scan phase (0 = skip); 4,000 keep the conveyor beside it for ~40 s, as many sheets as a latency phase, so their p99s compare').argParser(parseWhole).default(4000))
  .option('--no-split-workers', 'skip phase 6: conveyor latency and the re-scan again with a realtime worker beside a bulk-only worker')
  .option('--no-bulk-process', 'skip the last part of phase 6: conveyor latency and the re-scan again with one worker that runs its bulk work in a child process (--bulk-process)')
  .addOption(new Option('--bulk-niceness <n>', 'niceness of the bulk-only worker in phase 6 with --no-bulk-idle').argParser(parseWhole).default(10))
  .option('--no-bulk-idle', 'run the bulk-only worker of phase 6 at --bulk-niceness instead of under SCHED_IDLE (--idle-scheduling)')
  .option('--no-isolated-worker', 'skip phase 7: the limit and end to end again with the worker on half the cores and everything else on the other half (needs 2+ cores and taskset)')
  .option('--no-mixed-fleet', 'skip phase 8 (the last): conveyor latency with a fast worker alone, then beside a slow one (needs 2+ cores and taskset)')
  .addOption(new Option('--slow-worker-niceness <n>', 'niceness of the slow worker of the mixed fleet, whose cores also run one busy process each at niceness 0 (10: ~1/10 of its cores)').argParser(parseWhole).default(10))
  .option('--providers <list>', 'execution providers, in order', 'cuda,webgpu,cpu')
  .option('--out <dir>', 'where the JSON result goes', join(repoRoot(), 'bench', 'results'));

async function loadImages(options: BenchOptions): Promise<BenchImage[]> {
  if (options.images) {
    const files = readdirSync(options.images).filter((f) => ['.jpg', '.jpeg', '.tif', '.tiff', '.png'].includes(extname(f).toLowerCase())).sort();
    if (files.length === 0) throw new Error(`no JPEG/TIFF/PNG images in ${options.images}`);
    return files.map((f) => toBenchImage(f, readFileSync(join(options.images!, f))));
  }
  const images: BenchImage[] = [];
  for (let i = 0; i < options.count; i++) {
    const { bytes } = await renderSheet({ seed: 5150 + i, contaminated: i % 4 === 0, width: options.width, height: options.height });
    images.push(toBenchImage(`BENCH${String(i).padStart(5, '0')}.jpg`, bytes));
  }
  return images;
}

/** Children of runJsonChild() still running (stopped when the bench is interrupted), and the signal that interrupted it. */
const jsonChildren = new Set<ChildProcess>();
let interruptedBy: NodeJS.Signals | undefined;

/** Runs a bench script (`<name>.js` beside this file) in a child process with the workers' node flags, on `cores` only when given; returns the JSON on its last stdout line. */
async function runJsonChild<T>(name: string, payload: unknown, cores?: number[]): Promise<T> {
  const command = [process.execPath, ...SERVICE_NODE_FLAGS, new URL(`./${name}.js`, import.meta.url).pathname, JSON.stringify(payload)];
  const child = cores ? spawn('taskset', ['--cpu-list', cores.join(','), ...command], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  jsonChildren.add(child);
  let stdout = '';
  child.stdout.on('data', (data: Buffer) => { stdout += data.toString(); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  jsonChildren.delete(child);
  const last = stdout.trim().split('\n').pop() ?? '';
  if (code !== 0 || !last.startsWith('{')) throw new Error(`bench/${name}${cores ? ` on cores ${cores.join(',')}` : ''} failed (exit code ${code}): ${stdout.slice(-500)}`);
  return JSON.parse(last) as T;
}

/**
 * The limit (bench/limit.ts) in a process of its own: the bench process then holds none of its engine, heap
 * or threads while it generates the load end to end.
 */
const measureLimitInChild = (imagesDir: string, options: LimitOptions, cores?: number[]) =>
  runJsonChild<LimitResult>('limit-child', { ...options, imagesDir }, cores);

async function scrape(url: string): Promise<string> {
  return (await fetch(url)).text();
}

/** V8 collections of one process from its default metrics: count and seconds, by kind (major, minor, incremental). */
function gcByKind(text: string): Record<string, { count: number; seconds: number }> {
  const byKind: Record<string, { count: number; seconds: number }> = {};
  for (const line of text.split('\n')) {
    const match = /^nodejs_gc_duration_seconds_(sum|count)\{[^}]*\bkind="(\w+)"[^}]*\} (\S+)$/.exec(line);
    if (!match) continue;
    const entry = (byKind[match[2]!] ??= { count: 0, seconds: 0 });
    if (match[1] === 'sum') entry.seconds += Number(match[3]);
    else entry.count += Number(match[3]);
  }
  return byKind;
}

/** Collections that happened between two gcByKind() readings, per image: count and CPU-side pause ms, by kind. */
function gcPerImage(before: ReturnType<typeof gcByKind>, after: ReturnType<typeof gcByKind>, images: number) {
  return Object.fromEntries(Object.entries(after).map(([kind, { count, seconds }]) => [kind, {
    collections: count - (before[kind]?.count ?? 0),
    msPerImage: (1000 * (seconds - (before[kind]?.seconds ?? 0))) / Math.max(1, images),
  }]));
}

function metricValue(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) sum += Number(line.split(' ').pop());
  return sum;
}

async function main(options: BenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'quicksilver-bench-'));
  const processes = new LocalProcesses(join(dir, 'logs'));
  const nats = new NatsServerProcess(join(dir, 'nats'));
  // The cores this run may use, read before phase 7 pins the bench itself to half of them.
  const machineCores = allowedCores();
  const result: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { cores: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    options,
  };
  // The result so far is written at the start of every phase ("complete": false until the end), so a run cut short
  // (a GPU host's time limit, Ctrl-C) keeps what it measured.
  mkdirSync(options.out, { recursive: true });
  const file = join(options.out, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const save = (complete: boolean) => writeFileSync(file, `${JSON.stringify({ ...result, complete }, null, 2)}\n`);
  const phase = (message: string) => {
    save(false);
    console.log(message);
  };
  const burners: ChildProcess[] = [];
  const onSignal = (signal: NodeJS.Signals) => {
    interruptedBy = signal;
    console.error(`bench: ${signal}: stopping its processes; the phases measured so far are in ${file}`);
    for (const child of [...burners, ...jsonChildren]) child.kill('SIGKILL');
    save(false);
    void Promise.allSettled([processes.stopAll(5000), nats.stop()]).finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    console.log(`Preparing images (${options.images ?? `${options.count} synthetic ${options.width}x${options.height} JPEG`})...`);
    const images = await loadImages(options);
    const meanBytes = images.reduce((a, i) => a + i.bytes.length, 0) / images.length;
    result.images = { count: images.length, meanBytes: Math.round(meanBytes), source: options.images ?? 'synthetic' };
    const imagesDir = join(dir, 'images');
    mkdirSync(imagesDir);
    for (const image of images) writeFileSync(join(imagesDir, image.name), image.bytes);

    phase('1/8 in-process limit (tuned batching, bulk and realtime lanes)...');
    const limitOptions = { total: options.total, queueDelayUs: options.queueDelayUs, providers: options.providers };
    const limit = await measureLimitInChild(imagesDir, { ...limitOptions, maxBatchSize: options.maxBatch });
    console.log(`    batch 1 (${limit.lane} lane)...`);
    const limitBatch1 = await measureLimitInChild(imagesDir, { ...limitOptions, maxBatchSize: 1, lane: limit.lane });
    result.limit = limit;
    result.limitBatch1 = limitBatch1;
    console.log('    one bare gRPC hop (transport floor)...');
    const hop = await runJsonChild<TransportFloor>('transport-floor-child', { imagesDir, total: options.total });
    // Every image crosses two hops end to end; on one host their CPU is taken from decoding.
    const oneHostCeiling = limit.cpuMsPerImage / (limit.cpuMsPerImage + 2 * hop.cpuMsPerImage);
    result.transportFloor = { ...hop, oneHostCeiling };

    await nats.start();
    const grpcPort = await freePort();
    const metricsPort = await freePort();
    const address = `127.0.0.1:${grpcPort}`;
    const coordinator = processes.start('coordinator', ['coordinator', '--grpc-address', address, '--metrics-host', '127.0.0.1', '--metrics-port', String(metricsPort),
      '--nats-servers', nats.url, '--outbox-dir', join(dir, 'coordinator-outbox'), '--answer-cache-size', String(options.answerCacheSize), '--feedback-index-size', String(options.answerCacheSize), '--log-level', 'warn']);
    await processes.waitReady(coordinator, `http://127.0.0.1:${metricsPort}/readyz`);
    const startWorker = async (id: string, decodeConcurrency: number, extra: string[] = [], cores?: number[]) => {
      const port = await freePort();
      const worker = processes.start(id, ['worker', '--coordinator-address', address, '--worker-id', id,
        '--models-dir', join(repoRoot(), 'models'), '--health-address', '127.0.0.1:0', '--metrics-host', '127.0.0.1', '--metrics-port', String(port),
        '--max-batch-size', String(options.maxBatch), '--max-queue-delay-micros', String(options.queueDelayUs),
        '--decode-concurrency', String(decodeConcurrency), '--max-in-flight', String(options.workerMaxInFlight),
        '--execution-providers', options.providers, '--nats-servers', nats.url, '--rescan-allowed-roots', rescanArchive(dir), '--reference-allowed-roots', imagesDir, '--log-level', 'warn', ...extra], { cores });
      await processes.waitReady(worker, `http://127.0.0.1:${port}/readyz`);
      return { worker, metricsUrl: `http://127.0.0.1:${port}/metrics` };
    };
    const workerMetrics: string[] = [];
    const workers: RunningProcess[] = [];
    for (let i = 0; i < options.workers; i++) {
      const started = await startWorker(`bench-worker-${i + 1}`, Math.max(1, Math.floor(availableParallelism() / options.workers)));
      workerMetrics.push(started.metricsUrl);
      workers.push(started.worker);
    }

    /** Before a phase on pinned cores: stops the workers running and pins the coordinator, nats-server and the bench (stations) to `cores`. */
    const stopWorkersAndPinOthers = async (cores: number[]) => {
      for (const worker of workers.splice(0)) await processes.stop(worker);
      for (const pid of [coordinator.child.pid, nats.pid, process.pid]) pinProcess(pid!, cores);
    };
    const coordinatorMetricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    /**
     * Two bulk stations (one load-generator process) keep `credit` images in flight each through the coordinator until `options.total` verdicts;
     * with `referenceDir` they send the images by reference (the workers read them there) instead of their bytes.
     */
    const saturate = async (workerMetricsUrls: string[], credit: number, referenceDir?: string) => {
      /** The processes' CPU seconds, V8's collections (coordinator, first worker) and the workers' metrics, now. */
      const sample = async () => {
        const coordinatorText = await scrape(coordinatorMetricsUrl);
        const workerTexts = await Promise.all(workerMetricsUrls.map(scrape));
        return {
          cpu: {
            coordinator: metricValue(coordinatorText, 'process_cpu_seconds_total'),
            workers: workerTexts.reduce((a, t) => a + metricValue(t, 'process_cpu_seconds_total'), 0),
            natsServer: processCpuSeconds(nats.pid!),
          },
          gc: { coordinator: gcByKind(coordinatorText), worker: gcByKind(workerTexts[0] ?? '') },
          workersText: workerTexts.join('\n'),
        };
      };
      // The load generator: one process (the service processes' node flags, none of the bench's heap) with two
      // stations, started once it has its images.
      const generator = startStationInChild({
        address, stationId: 'sat', stations: 2, imagesDir, priority: options.saturationPriority === 'bulk' ? 'PRIORITY_BULK' : 'PRIORITY_REALTIME', inFlight: credit, total: options.total / 2, referenceDir,
      });
      await generator.ready;
      const before = await sample();
      const started = performance.now();
      generator.go();
      const saturation = await generator.result;
      const seconds = (performance.now() - started) / 1000;
      const after = await sample();
      const verdicts = saturation.verdicts;
      const perImageMs = (cpuSeconds: number) => (1000 * cpuSeconds) / Math.max(1, verdicts);
      return {
        imagesPerSecond: verdicts / seconds,
        verdicts,
        rejections: saturation.rejections,
        // Batches of this run only (the workers' histogram counts since they started).
        meanBatch: (metricValue(after.workersText, 'quicksilver_worker_batch_size_sum') - metricValue(before.workersText, 'quicksilver_worker_batch_size_sum'))
          / Math.max(1, metricValue(after.workersText, 'quicksilver_worker_batch_size_count') - metricValue(before.workersText, 'quicksilver_worker_batch_size_count')),
        batchHistogram: after.workersText.split('\n').filter((l) => l.startsWith('quicksilver_worker_batch_size_bucket')), // cumulative since the workers started
        cpuMsPerImage: {
          ...Object.fromEntries(Object.entries(after.cpu).map(([name, value]) => [name, perImageMs(value - before.cpu[name as keyof typeof before.cpu])])),
          loadGenerator: perImageMs(saturation.cpuSeconds),
        } as Record<string, number>,
        // V8's collections in the coordinator and the (first) worker while the load ran (pause time, not the concurrent marking threads).
        gc: { coordinator: gcPerImage(before.gc.coordinator, after.gc.coordinator, verdicts), worker: gcPerImage(before.gc.worker, after.gc.worker, verdicts) },
      };
    };

    phase('2/8 end to end at saturation...');
    const credit = 4 * options.maxBatch * options.workers; // above the workers' credit (3 x max batch), so the coordinator always has work queued
    const { cpuMsPerImage, ...e2e } = await saturate(workerMetrics, credit);
    const ratioToLimit = e2e.imagesPerSecond / limit.imagesPerSecond;
    // The saturating load runs in the worker's lane of its class: its ratio to that lane in process too.
    const sameLane = limit.lanes[options.saturationPriority]?.imagesPerSecond ?? limit.imagesPerSecond;
    result.endToEnd = { ...e2e, ratioToLimit, ratioToSameLane: e2e.imagesPerSecond / sameLane, ratioToOneHostCeiling: ratioToLimit / oneHostCeiling, cpuMsPerImage };
    phase('2/8 end to end at saturation, images sent by reference (the worker reads them from the shared folder)...');
    const byReference = await saturate(workerMetrics, credit, imagesDir);
    // What the other processes' CPU alone leaves on a shared host: the ratio end to end would reach if the worker
    // cost no more per image than its lane in process (CPU-bound: throughput ~ 1 / CPU per image).
    const laneCpu = limit.lanes[options.saturationPriority]?.cpuMsPerImage ?? limit.cpuMsPerImage;
    const othersCpu = byReference.cpuMsPerImage.coordinator! + byReference.cpuMsPerImage.loadGenerator! + byReference.cpuMsPerImage.natsServer!;
    // Only where the engine is CPU-bound (cpu provider): with a GPU the lane's rate is not 1 / its CPU.
    const ceilingWithInProcessWorker = limit.provider === 'cpu' ? (sameLane / limit.imagesPerSecond) * (laneCpu / (laneCpu + othersCpu)) : undefined;
    result.endToEndByReference = {
      ...byReference, ratioToLimit: byReference.imagesPerSecond / limit.imagesPerSecond, ratioToSameLane: byReference.imagesPerSecond / sameLane, ceilingWithInProcessWorker,
    };

    const latencyPhase = async (withBulk: boolean) => {
      const stop = new AbortController();
      // The bulk load runs in a process of its own, as another agent would: not on the event loop that times the conveyor.
      const bulk = withBulk
        ? runStationInChild({ address, stationId: 'rescan', imagesDir, priority: 'PRIORITY_BULK', inFlight: 4 * credit }, stop.signal)
        : Promise.resolve<StationResult | undefined>(undefined);
      const deadline = AbortSignal.timeout(options.latencySeconds * 1000);
      const stations = await Promise.all(Array.from({ length: options.stations }, (_, s) => runStation({
        address, stationId: `conveyor-${s + 1}`, images, priority: 'PRIORITY_REALTIME', intervalMs: options.intervalMs, signal: deadline,
      })));
      stop.abort();
      const bulkResult = await bulk;
      const latencies = stations.flatMap((r) => r.latenciesMs);
      const byWorker = Object.fromEntries(Object.entries(latenciesByWorker(stations)).map(([worker, values]) =>
        [worker, { images: values.length, p50Ms: percentile(values, 50), maxMs: Math.max(...values) }]));
      const stages = Object.fromEntries(STAGES.map((stage) => {
        const values = stations.flatMap((r) => r.stagesMs[stage]);
        return [stage, { p50Ms: percentile(values, 50), p99Ms: percentile(values, 99) }];
      }));
      return {
        stages,
        images: latencies.length,
        p50Ms: percentile(latencies, 50), p95Ms: percentile(latencies, 95), p99Ms: percentile(latencies, 99), maxMs: Math.max(...latencies),
        bulkImagesPerSecond: bulkResult ? bulkResult.verdicts / options.latencySeconds : 0,
        byWorker,
      };
    };
    phase(`3/8 conveyor latency: ${options.stations} stations, one sheet every ~${options.intervalMs} ms each, ${options.latencySeconds} s...`);
    const quiet = await latencyPhase(false);
    phase('3/8 the same with a saturating bulk re-scan load beside it...');
    const busy = await latencyPhase(true);
    result.latency = { quiet, withBulk: busy, p99Ratio: busy.p99Ms / quiet.p99Ms };

    /** A re-scan with conveyor stations beside it; their p99 is compared with `quietP99Ms` of the same workers. */
    const rescanPhase = async (quietP99Ms: number) => {
      const rescan = await runRescanPhase({
        dir, natsUrl: nats.url, coordinatorAddress: address, images, rows: options.rescanRows, model: 'mercury-cnn',
        stations: options.stations, intervalMs: options.intervalMs,
      });
      return {
        ...rescan, ratioToLimit: rescan.rowsPerSecond / limit.imagesPerSecond, steadyRatioToLimit: rescan.steadyRowsPerSecond / limit.imagesPerSecond,
        conveyorP99RatioToQuiet: rescan.conveyorDuringRescan.p99Ms / quietP99Ms,
      };
    };

    if (options.memoryImages > 0) {
      phase(`4/8 coordinator memory while ${options.memoryImages} small images pass...`);
      const small = await Promise.all(images.slice(0, 4).map(async (image, i) =>
        toBenchImage(`SMALL${i}.jpg`, await sharp(image.bytes).resize(300, 400, { fit: 'fill' }).jpeg({ quality: 85 }).toBuffer())));
      const coordinatorMetrics = `http://127.0.0.1:${metricsPort}/metrics`;
      const samples: number[] = [];
      const heapSamples: number[] = [];
      const sampler = setInterval(() => {
        void scrape(coordinatorMetrics).then((text) => {
          samples.push(metricValue(text, 'process_resident_memory_bytes'));
          heapSamples.push(metricValue(text, 'nodejs_heap_size_used_bytes'));
        }, () => {});
      }, 500);
      const memStart = performance.now();
      const memoryRun = await Promise.all([0, 1].map((s) => runStation({
        address, stationId: `mem-${s}`, images: small, priority: 'PRIORITY_BULK', inFlight: credit, total: options.memoryImages / 2,
      })));
      clearInterval(sampler);
      // Flat = the second half of the run never exceeds the first half's peak by more than noise.
      const half = Math.max(1, Math.floor(samples.length / 2));
      const quarterMaxMiB = (values: number[]) => [0, 1, 2, 3].map((q) => Math.max(...values.slice(Math.floor((q * values.length) / 4), Math.floor(((q + 1) * values.length) / 4))) / 2 ** 20);
      result.memory = {
        images: memoryRun.reduce((a, r) => a + r.verdicts, 0), seconds: (performance.now() - memStart) / 1000, answerCacheSize: options.answerCacheSize,
        rssQuarterMaxMiB: quarterMaxMiB(samples), heapUsedQuarterMaxMiB: quarterMaxMiB(heapSamples), rssMaxMiB: Math.max(...samples) / 2 ** 20,
        growthInSecondHalfMiB: (Math.max(...samples.slice(half)) - Math.max(...samples.slice(0, half))) / 2 ** 20,
      };
    }
    if (options.rescanRows > 0) {
      phase(`5/8 re-scan of ${options.rescanRows} rows from disk through JetStream, conveyor stations beside it...`);
      result.rescan = await rescanPhase(quiet.p99Ms);
    }
    if (options.splitWorkers) {
      // The same conveyor phases with the deployment docs/performance.md recommends for a shared host:
      // a worker that takes conveyor images only, beside a bulk-only worker under SCHED_IDLE (or at --bulk-niceness).
      const bulkPriority = options.bulkIdle ? ['--idle-scheduling'] : ['--niceness', String(options.bulkNiceness)];
      phase(`6/8 conveyor latency again (quiet, then bulk beside), with a realtime worker beside a bulk-only worker ${bulkWorkerPriority(options)}...`);
      for (const worker of workers.splice(0)) await processes.stop(worker);
      // Their default decodes (0): the cores each, one more on the bulk-only worker.
      workers.push((await startWorker('bench-conveyor-worker', 0, ['--priorities', 'realtime'])).worker);
      workers.push((await startWorker('bench-bulk-worker', 0, ['--priorities', 'bulk', ...bulkPriority])).worker);
      const splitQuiet = await latencyPhase(false);
      const splitBusy = await latencyPhase(true);
      result.latencySplitWorkers = { quiet: splitQuiet, withBulk: splitBusy, p99Ratio: splitBusy.p99Ms / splitQuiet.p99Ms };
      if (options.rescanRows > 0) {
        // Phase 5 again with this deployment: the re-scan rows go to the bulk-only worker.
        phase(`6/8 re-scan of ${options.rescanRows} rows again with the split workers, conveyor stations beside it...`);
        result.rescanSplitWorkers = await rescanPhase(splitQuiet.p99Ms);
      }
    }
    if (options.bulkProcess) {
      // The same split in one worker (a container or pod with one GPU): it takes conveyor images and runs its
      // bulk work in a child process under SCHED_IDLE that registers as <id>-bulk.
      phase('6/8 conveyor latency again (quiet, then bulk beside), with one worker running its bulk work in a child process under SCHED_IDLE (--bulk-process)...');
      for (const worker of workers.splice(0)) await processes.stop(worker);
      workers.push((await startWorker('bench-worker-with-bulk-process', 0, ['--bulk-process'])).worker);
      const quietWithChild = await latencyPhase(false);
      const busyWithChild = await latencyPhase(true);
      result.latencyBulkProcess = { quiet: quietWithChild, withBulk: busyWithChild, p99Ratio: busyWithChild.p99Ms / quietWithChild.p99Ms };
      if (options.rescanRows > 0) {
        // Phase 5 again: the re-scan rows go to the child, the conveyor's images to the worker.
        phase(`6/8 re-scan of ${options.rescanRows} rows again with the worker and its bulk process, conveyor stations beside it...`);
        result.rescanBulkProcess = await rescanPhase(quietWithChild.p99Ms);
      }
    }
    if (options.isolatedWorker) {
      // Separate hosts, approximated on this one: the worker gets half the cores to itself, and the
      // coordinator, nats-server and the stations share the other half. The limit is measured again on
      // the worker's cores, so the ratio is the worker host's throughput through Quicksilver against
      // what its cores do in one process: the distributed path's cost where the worker runs.
      const halves = halvesOfCores(machineCores);
      if (!halves) {
        console.log(`7/8 isolated worker: skipped (${CORES_NOT_SPLIT})`);
        result.isolatedWorker = { skipped: CORES_NOT_SPLIT };
      } else {
        const [otherCores, workerCores] = halves;
        phase(`7/8 limit and end to end with the worker alone on cores ${workerCores.join(',')}, everything else on ${otherCores.join(',')}...`);
        await stopWorkersAndPinOthers(otherCores);
        const isolatedLimit = await measureLimitInChild(imagesDir, { ...limitOptions, maxBatchSize: options.maxBatch }, workerCores);
        const isolated = await startWorker('bench-isolated-worker', workerCores.length, [], workerCores);
        workers.push(isolated.worker);
        const isolatedE2e = await saturate([isolated.metricsUrl], 4 * options.maxBatch);
        const isolatedByReference = await saturate([isolated.metricsUrl], 4 * options.maxBatch, imagesDir);
        result.isolatedWorker = {
          workerCores, otherCores, limit: isolatedLimit, endToEnd: isolatedE2e, ratioToLimit: isolatedE2e.imagesPerSecond / isolatedLimit.imagesPerSecond,
          endToEndByReference: isolatedByReference, byReferenceRatioToLimit: isolatedByReference.imagesPerSecond / isolatedLimit.imagesPerSecond,
          // The load runs in the lane of its class; on one core the limit's faster lane may be the other one.
          sameLane: options.saturationPriority, sameLaneImagesPerSecond: isolatedLimit.lanes[options.saturationPriority]?.imagesPerSecond,
        };
      }
    }
    if (options.mixedFleet) {
      // A fleet of workers of different speeds (a GPU host beside a CPU-only one): the coordinator should send
      // a conveyor's trickle to the worker expected to answer first, not in turns. The fast worker gets half
      // the cores; the slow one the other half, niced, beside one busy process per core at niceness 0 (a host
      // busy with other work), so it gets ~1/10 of them; those busy processes run while the fast worker is measured
      // alone too. Coordinator, nats-server and stations share the fast worker's cores (at a trickle they need little).
      const halves = halvesOfCores(machineCores);
      if (!halves) {
        console.log(`8/8 mixed-speed fleet: skipped (${CORES_NOT_SPLIT})`);
        result.mixedFleet = { skipped: CORES_NOT_SPLIT };
      } else {
        const [fastCores, slowCores] = halves;
        phase(`8/8 mixed-speed fleet: conveyor latency with a worker on cores ${fastCores.join(',')} alone, then beside a slow worker on cores ${slowCores.join(',')} (nice ${options.slowWorkerNiceness}, its cores busy)...`);
        await stopWorkersAndPinOthers(fastCores);
        const fast = await startWorker('bench-fast-worker', fastCores.length, [], fastCores);
        workers.push(fast.worker);
        // The busy processes run in both runs: where the two halves are SMT siblings they slow the fast worker's cores too.
        // Each busy process spins in 100 ms slices and exits once the bench is gone (its parent changes).
        const spin = `const parent = ${process.pid}; for (;;) { const until = Date.now() + 100; while (Date.now() < until); if (process.ppid !== parent) process.exit(); }`;
        burners.push(...slowCores.map((core) => spawn('taskset', ['--cpu-list', String(core), process.execPath, '-e', spin], { stdio: 'ignore' })));
        try {
          const alone = await latencyPhase(false);
          const slow = await startWorker('bench-slow-worker', slowCores.length, ['--niceness', String(options.slowWorkerNiceness)], slowCores);
          workers.push(slow.worker);
          const fleet = await latencyPhase(false);
          // The coordinator's estimate of each worker's conveyor round trip, at its last answer.
          const estimates: Record<string, number> = {};
          for (const line of (await scrape(coordinatorMetricsUrl)).split('\n').filter((l) => l.startsWith('quicksilver_coordinator_worker_service_seconds{'))) {
            const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
            if (labels.priority === 'realtime' && (labels.worker === 'bench-fast-worker' || labels.worker === 'bench-slow-worker')) estimates[labels.worker] = 1000 * Number(line.split(' ').pop());
          }
          result.mixedFleet = { fastCores, slowCores, slowWorkerNiceness: options.slowWorkerNiceness, alone, fleet, p99Ratio: fleet.p99Ms / alone.p99Ms, serviceEstimateMs: estimates };
        } finally {
          for (const burner of burners.splice(0)) burner.kill('SIGKILL');
        }
      }
    }
    printTable(result);
    save(true);
    console.log(`\nwrote ${file}`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await processes.stopAll();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const CORES_NOT_SPLIT = 'needs 2 or more cores and util-linux taskset';

/** `cores` in two halves (the first for the coordinator, nats-server and stations); undefined where they cannot be pinned apart. */
function halvesOfCores(cores: number[]): [number[], number[]] | undefined {
  if (cores.length < 2 || !tasksetAvailable()) return undefined;
  const first = cores.slice(0, Math.ceil(cores.length / 2));
  return [first, cores.slice(first.length)];
}

const bulkWorkerPriority = (options: BenchOptions) => (options.bulkIdle ? 'under SCHED_IDLE' : `at nice ${options.bulkNiceness}`);

function printTable(r: Record<string, unknown>): void {
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
  const m = r.machine as { cores: number; cpu: string };
  const limit = r.limit as { imagesPerSecond: number; meanBatch: number; cpuMsPerImage: number; provider: string; device: string; lane: string; lanes: Record<string, { imagesPerSecond: number }> };
  const b1 = r.limitBatch1 as { imagesPerSecond: number };
  const e2e = r.endToEnd as { imagesPerSecond: number; ratioToLimit: number; ratioToSameLane: number; ratioToOneHostCeiling: number; meanBatch: number; cpuMsPerImage: Record<string, number> };
  const byRef = r.endToEndByReference as { imagesPerSecond: number; ratioToLimit: number; ratioToSameLane: number; ceilingWithInProcessWorker?: number; meanBatch: number; cpuMsPerImage: Record<string, number>; rejections: Record<string, number> };
  const hop = r.transportFloor as { cpuMsPerImage: number; meanBytes: number; oneHostCeiling: number };
  const lat = r.latency as { quiet: { p50Ms: number; p95Ms: number; p99Ms: number; images: number }; withBulk: { p50Ms: number; p95Ms: number; p99Ms: number; images: number; bulkImagesPerSecond: number }; p99Ratio: number };
  type Rescan = { rows: number; rowsPerSecond: number; ratioToLimit: number; firstRowSeconds: number; steadyRowsPerSecond: number; steadyRatioToLimit: number; conveyorP99RatioToQuiet: number; conveyorDuringRescan: { images: number; p50Ms: number; p95Ms: number; p99Ms: number } };
  const rescanRows = (label: string, rs: Rescan | undefined) => (rs ? `| ${label}re-scan (${rs.rows} rows, JetStream pull) | ${f(rs.rowsPerSecond)} rows/s from submit (first row after ${f(rs.firstRowSeconds, 1)} s) | ${f(rs.ratioToLimit, 2)} of limit |
| ${label}re-scan steady rate (10-90 % of rows) | ${f(rs.steadyRowsPerSecond)} rows/s | ${f(rs.steadyRatioToLimit, 2)} of limit |
| ${label}conveyor during re-scan (n=${rs.conveyorDuringRescan.images}) | p50 ${f(rs.conveyorDuringRescan.p50Ms, 0)} / p95 ${f(rs.conveyorDuringRescan.p95Ms, 0)} / p99 ${f(rs.conveyorDuringRescan.p99Ms, 0)} ms | p99 x${f(rs.conveyorP99RatioToQuiet, 2)} of ${label}no bulk (target <= 1.5) |
` : '');
  const stages = (phase: { stages: Record<string, { p50Ms: number; p99Ms: number }> }) => STAGES.map((s) => `${s} ${f(phase.stages[s]!.p50Ms, 0)}/${f(phase.stages[s]!.p99Ms, 0)}`).join(', ');
  const split = r.latencySplitWorkers as typeof lat | undefined;
  const withChild = r.latencyBulkProcess as typeof lat | undefined;
  type GcPerImage = Record<string, { collections: number; msPerImage: number }>;
  type Saturation = { imagesPerSecond: number; meanBatch: number; cpuMsPerImage: Record<string, number>; rejections?: Record<string, number>; gc?: { coordinator: GcPerImage; worker: GcPerImage } };
  const gcText = (gc: GcPerImage | undefined) => ['major', 'minor'].map((kind) => `${gc?.[kind]?.collections ?? 0} ${kind} (${f(gc?.[kind]?.msPerImage ?? 0, 2)} ms/img)`).join(', ');
  const iso = r.isolatedWorker as { workerCores: number[]; otherCores: number[]; ratioToLimit: number; byReferenceRatioToLimit: number; sameLane?: string; sameLaneImagesPerSecond?: number; limit: { imagesPerSecond: number; cpuMsPerImage: number; meanBatch: number; lane: string }; endToEnd: Saturation; endToEndByReference: Saturation } | undefined;
  const ofSameLane = (saturation: Saturation) => (iso?.sameLaneImagesPerSecond ? `, ${f(saturation.imagesPerSecond / iso.sameLaneImagesPerSecond, 2)} of its ${iso.sameLane} lane` : '');
  type LatencyPhase = { images: number; p50Ms: number; p95Ms: number; p99Ms: number; byWorker: Record<string, { images: number; p50Ms: number; maxMs: number }> };
  const fleet = r.mixedFleet as { fastCores: number[]; alone?: LatencyPhase; fleet: LatencyPhase; p99Ratio: number; serviceEstimateMs: Record<string, number> } | undefined;
  const mem = r.memory as { images: number; rssQuarterMaxMiB: number[]; heapUsedQuarterMaxMiB: number[]; rssMaxMiB: number; growthInSecondHalfMiB: number; answerCacheSize: number } | undefined;
  console.log(`
Machine: ${m.cores} cores, ${m.cpu}; provider ${limit.provider} (${limit.device})
| measurement                                  | value            | ratio / target          |
|----------------------------------------------|------------------|-------------------------|
| in-process limit (tuned batch)               | ${f(limit.imagesPerSecond)} img/s (batch ${f(limit.meanBatch)}, ${limit.lane} lane) | 1.00; lanes ${Object.entries(limit.lanes).map(([l, v]) => `${l} ${f(v.imagesPerSecond)}`).join(', ')} img/s |
| in-process, max batch 1                      | ${f(b1.imagesPerSecond)} img/s     | ${f(b1.imagesPerSecond / limit.imagesPerSecond, 2)} of tuned |
| one bare gRPC hop, ${f(hop.meanBytes / 1000, 0)} kB image              | ${f(hop.cpuMsPerImage, 2)} CPU ms/img | one-host ceiling of the two hops alone ${f(hop.oneHostCeiling, 2)} of limit |
| end to end at saturation                     | ${f(e2e.imagesPerSecond)} img/s (batch ${f(e2e.meanBatch)}) | ${f(e2e.ratioToLimit, 2)} of limit (target >= 0.90), ${f(e2e.ratioToSameLane, 2)} of the ${(r.options as BenchOptions).saturationPriority} lane; ${f(e2e.ratioToOneHostCeiling, 2)} of the one-host ceiling |
| end to end, images sent by reference         | ${f(byRef.imagesPerSecond)} img/s (batch ${f(byRef.meanBatch)}) | ${f(byRef.ratioToLimit, 2)} of limit (target >= 0.90), ${f(byRef.ratioToSameLane, 2)} of the ${(r.options as BenchOptions).saturationPriority} lane; worker ${f(byRef.cpuMsPerImage.workers!)} + coordinator ${f(byRef.cpuMsPerImage.coordinator!)} + load generator ${f(byRef.cpuMsPerImage.loadGenerator!)} + nats-server ${f(byRef.cpuMsPerImage.natsServer!)} CPU ms/img${Object.keys(byRef.rejections).length ? `; rejections ${JSON.stringify(byRef.rejections)}` : ''} |
| by reference, one-host ceiling of the others | coordinator + stations + nats-server CPU (cpu provider only) | ${byRef.ceilingWithInProcessWorker === undefined ? 'n/a' : f(byRef.ceilingWithInProcessWorker, 2)} of limit, with a worker that costs no more per image than in process |
| by reference, V8 collections (pauses)        | worker ${gcText((byRef as Saturation).gc?.worker)}; coordinator ${gcText((byRef as Saturation).gc?.coordinator)} | |
| conveyor latency, no bulk (n=${lat.quiet.images})         | p50 ${f(lat.quiet.p50Ms, 0)} / p95 ${f(lat.quiet.p95Ms, 0)} / p99 ${f(lat.quiet.p99Ms, 0)} ms | |
| conveyor latency, bulk beside (n=${lat.withBulk.images})  | p50 ${f(lat.withBulk.p50Ms, 0)} / p95 ${f(lat.withBulk.p95Ms, 0)} / p99 ${f(lat.withBulk.p99Ms, 0)} ms | p99 x${f(lat.p99Ratio, 2)} (target <= 1.5); bulk ${f(lat.withBulk.bulkImagesPerSecond)} img/s |
| realtime stages p50/p99 ms, no bulk          | ${stages(lat.quiet as never)} | |
| realtime stages p50/p99 ms, bulk beside      | ${stages(lat.withBulk as never)} | |
| CPU per image: limit                         | ${f(limit.cpuMsPerImage)} ms | |
| CPU per image: end to end                    | worker ${f(e2e.cpuMsPerImage.workers!)} + coordinator ${f(e2e.cpuMsPerImage.coordinator!)} + load generator ${f(e2e.cpuMsPerImage.loadGenerator!)} + nats-server ${f(e2e.cpuMsPerImage.natsServer!)} ms | |
${split ? `| split workers: conveyor, no bulk (n=${split.quiet.images}) | p50 ${f(split.quiet.p50Ms, 0)} / p95 ${f(split.quiet.p95Ms, 0)} / p99 ${f(split.quiet.p99Ms, 0)} ms | realtime worker + bulk-only worker ${bulkWorkerPriority(r.options as BenchOptions)} |
| split workers: conveyor, bulk beside (n=${split.withBulk.images}) | p50 ${f(split.withBulk.p50Ms, 0)} / p95 ${f(split.withBulk.p95Ms, 0)} / p99 ${f(split.withBulk.p99Ms, 0)} ms | p99 x${f(split.p99Ratio, 2)} (target <= 1.5); bulk ${f(split.withBulk.bulkImagesPerSecond)} img/s |
| split workers: stages p50/p99 ms, bulk beside | ${stages(split.withBulk as never)} | |
` : ''}${withChild ? `| worker with its bulk process: conveyor, no bulk (n=${withChild.quiet.images}) | p50 ${f(withChild.quiet.p50Ms, 0)} / p95 ${f(withChild.quiet.p95Ms, 0)} / p99 ${f(withChild.quiet.p99Ms, 0)} ms | one worker, bulk work in its child under SCHED_IDLE (--bulk-process) |
| worker with its bulk process: conveyor, bulk beside (n=${withChild.withBulk.images}) | p50 ${f(withChild.withBulk.p50Ms, 0)} / p95 ${f(withChild.withBulk.p95Ms, 0)} / p99 ${f(withChild.withBulk.p99Ms, 0)} ms | p99 x${f(withChild.p99Ratio, 2)} (target <= 1.5); bulk ${f(withChild.withBulk.bulkImagesPerSecond)} img/s |
| worker with its bulk process: stages p50/p99 ms, bulk beside | ${stages(withChild.withBulk as never)} | |
` : ''}${rescanRows('', r.rescan as Rescan | undefined)}${rescanRows('split workers: ', r.rescanSplitWorkers as Rescan | undefined)}${rescanRows('worker with its bulk process: ', r.rescanBulkProcess as Rescan | undefined)}${iso?.limit ? `| limit on the worker's cores ${iso.workerCores.join(',')} only       | ${f(iso.limit.imagesPerSecond)} img/s (batch ${f(iso.limit.meanBatch)}, ${iso.limit.lane} lane), ${f(iso.limit.cpuMsPerImage)} CPU ms/img | separate hosts approximated |
| end to end, worker alone on cores ${iso.workerCores.join(',')}     | ${f(iso.endToEnd.imagesPerSecond)} img/s (batch ${f(iso.endToEnd.meanBatch)}); worker ${f(iso.endToEnd.cpuMsPerImage.workers!)} CPU ms/img | ${f(iso.ratioToLimit, 2)} of that limit (target >= 0.90)${ofSameLane(iso.endToEnd)}; coordinator ${f(iso.endToEnd.cpuMsPerImage.coordinator!)} + stations ${f(iso.endToEnd.cpuMsPerImage.loadGenerator!)} ms on cores ${iso.otherCores.join(',')} |
${iso.endToEndByReference ? `| the same, images sent by reference           | ${f(iso.endToEndByReference.imagesPerSecond)} img/s (batch ${f(iso.endToEndByReference.meanBatch)}); worker ${f(iso.endToEndByReference.cpuMsPerImage.workers!)} CPU ms/img | ${f(iso.byReferenceRatioToLimit, 2)} of that limit (target >= 0.90)${ofSameLane(iso.endToEndByReference)}${Object.keys(iso.endToEndByReference.rejections ?? {}).length ? `; rejections ${JSON.stringify(iso.endToEndByReference.rejections)}` : ''} |
` : ''}` : ''}${fleet?.alone ? `| mixed fleet: fast worker alone (n=${fleet.alone.images}) | p50 ${f(fleet.alone.p50Ms, 0)} / p95 ${f(fleet.alone.p95Ms, 0)} / p99 ${f(fleet.alone.p99Ms, 0)} ms | worker on cores ${fleet.fastCores.join(',')} |
| mixed fleet: beside a slow worker (n=${fleet.fleet.images}) | p50 ${f(fleet.fleet.p50Ms, 0)} / p95 ${f(fleet.fleet.p95Ms, 0)} / p99 ${f(fleet.fleet.p99Ms, 0)} ms | p99 x${f(fleet.p99Ratio, 2)} of alone; ${Object.entries(fleet.fleet.byWorker).map(([w, b]) => `${w} ${b.images} images (p50 ${f(b.p50Ms, 0)}, max ${f(b.maxMs, 0)} ms)`).join(', ')}; estimates ${Object.entries(fleet.serviceEstimateMs).map(([w, ms]) => `${w} ${f(ms, 0)} ms`).join(', ')} |
` : ''}${mem ? `| coordinator RSS over ${mem.images} images        | max per quarter ${mem.rssQuarterMaxMiB.map((v) => f(v)).join(' / ')} MiB | second half ${mem.growthInSecondHalfMiB >= 0 ? '+' : ''}${f(mem.growthInSecondHalfMiB)} MiB over the first (answer cache ${mem.answerCacheSize}) |
| coordinator V8 heap used, same run           | max per quarter ${mem.heapUsedQuarterMaxMiB.map((v) => f(v)).join(' / ')} MiB | |` : ''}`);
}

program.action(async (options: BenchOptions) => main(options));
program.parseAsync(process.argv).catch((error: Error) => {
  if (interruptedBy) return; // the signal handler stops everything and exits
  console.error(`bench: ${error.message}`);
  process.exit(1);
});
