// Bench phase: a whole-collection re-scan through the benchmark's workers (they pull from JetStream,
// reading the images from disk), with conveyor stations sending real-time images beside it.
// Reports re-scan rows/s (submission included), the steady rate between 10 % and 90 % of the rows (what a
// million-row job runs at: its start-up, the submit process and the workers' next job-list read, is paid
// once per job), the progress over time, and the conveyor latency while the re-scan saturates the workers.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliEntry } from '../common/src/paths.js';
import { RescanJetStream } from '../common/src/rescan/adapters/jetstream-rescan.js';
import { percentile, runStation, type BenchImage } from './station-load.js';

export interface RescanPhaseOptions {
  dir: string;
  natsUrl: string;
  coordinatorAddress: string;
  images: BenchImage[];
  rows: number;
  model: string;
  stations: number;
  intervalMs: number;
}

/** Where the workers must be allowed to read (pass it as their --rescan-allowed-roots). */
export const rescanArchive = (dir: string) => join(dir, 'rescan-archive');

export async function runRescanPhase(options: RescanPhaseOptions) {
  const archive = rescanArchive(options.dir);
  mkdirSync(archive, { recursive: true });
  options.images.forEach((image, i) => writeFileSync(join(archive, `${i}-${image.name}`), image.bytes));
  const manifest = join(options.dir, 'rescan-manifest.csv');
  const out = createWriteStream(manifest);
  out.write('barcode,uri\n');
  for (let i = 0; i < options.rows; i++) {
    const n = i % options.images.length;
    if (!out.write(`RS${String(i).padStart(8, '0')},${archive}/${n}-${options.images[n]!.name}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');

  const store = await RescanJetStream.connect([options.natsUrl], 'quicksilver-bench');
  try {
    const jobId = `bench-${Date.now()}`;
    const stop = new AbortController();
    const started = performance.now();
    const submit = spawn(process.execPath, [cliEntry(), 'rescan', 'submit', '--manifest', manifest, '--job-id', jobId, '--model', options.model,
      '--nats-servers', options.natsUrl, '--allowed-roots', archive], { stdio: ['ignore', 'ignore', 'pipe'] });
    let submitErrors = '';
    submit.stderr.on('data', (d: Buffer) => { submitErrors = (submitErrors + d.toString()).slice(-2000); });
    const conveyor = Promise.all(Array.from({ length: options.stations }, (_, s) => runStation({
      address: options.coordinatorAddress, stationId: `rescan-conveyor-${s + 1}`, images: options.images, priority: 'PRIORITY_REALTIME',
      intervalMs: options.intervalMs, signal: stop.signal,
    })));
    const [code] = await once(submit, 'exit') as [number];
    if (code !== 0) throw new Error(`rescan submit failed: ${submitErrors}`);
    let done = { verdicts: 0, failures: 0 };
    /** [seconds since submit, rows finished] at each poll. */
    const timeline: [number, number][] = [];
    for (;;) {
      const progress = await store.progress(await store.requireJob(jobId));
      done = { verdicts: progress.verdicts, failures: progress.failures };
      timeline.push([(performance.now() - started) / 1000, progress.verdicts + progress.failures]);
      if (progress.verdicts + progress.failures >= options.rows) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const seconds = (performance.now() - started) / 1000;
    stop.abort();
    const latencies = (await conveyor).flatMap((r) => r.latenciesMs);
    return {
      rows: options.rows, ...done, seconds, rowsPerSecond: options.rows / seconds, ...steadyRate(timeline, options.rows),
      timeline: timeline.map(([t, n]) => [Math.round(t * 100) / 100, n]),
      conveyorDuringRescan: { images: latencies.length, p50Ms: percentile(latencies, 50), p95Ms: percentile(latencies, 95), p99Ms: percentile(latencies, 99) },
    };
  } finally {
    await store.close();
  }
}

/** Seconds until the first row finished, and rows/s between the polls that first saw 10 % and 90 % of the rows. */
function steadyRate(timeline: [number, number][], rows: number): { firstRowSeconds: number; steadyRowsPerSecond: number } {
  const firstAt = (count: number) => timeline.find(([, n]) => n >= count);
  const first = firstAt(1), low = firstAt(rows * 0.1), high = firstAt(rows * 0.9);
  const steadyRowsPerSecond = low && high && high[0] > low[0] ? (high[1] - low[1]) / (high[0] - low[0]) : Number.NaN;
  return { firstRowSeconds: first?.[0] ?? Number.NaN, steadyRowsPerSecond };
}
