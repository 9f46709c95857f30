// `quicksilver rescan ...`: whole-collection re-scans. The CLI talks to JetStream directly (no
// coordinator in the path): rows stream from the manifest file into the work stream with a bounded
// window of unacknowledged publications, and every status is read from the streams themselves.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig } from '../../../common/src/config.js';
import { addConfigOptions, flagsFrom, parseWhole } from '../../../common/src/cli-options.js';
import { QuicksilverError } from '../../../common/src/errors.js';
import { RescanJetStream } from '../../../common/src/rescan/adapters/jetstream-rescan.js';
import { readManifest, type ManifestFormat } from '../../../common/src/rescan/manifest.js';
import { JobIdSchema, newJobId, type JobRecord } from '../../../common/src/rescan/records.js';
import { RESCAN_ENV_PREFIX, RescanClientConfigSchema, type RescanClientConfig } from '../rescan/config.js';
import { formatProgress, ProgressDisplay, ProgressTracker } from '../rescan/progress.js';
import { exportResults, writeReport } from '../rescan/report.js';
import { changeJobState, type JobStateTarget } from '../rescan/job-state.js';
import { submitManifest } from '../rescan/submit.js';

const BAD_ROWS_PRINTED = 100;
/** `rescan status` samples a running job twice, this far apart, for its rate and ETA. */
const STATUS_SAMPLE_GAP_MS = 2000;
const configOf = (options: Record<string, unknown>): RescanClientConfig => {
  const { jobId: _j, manifest: _m, format: _f, wait: _w, previous: _p, out: _o, against: _a, maxFlagged: _x, json: _js, watch: _wa, ...rest } = options;
  return loadConfig(RescanClientConfigSchema, RESCAN_ENV_PREFIX, { ...flagsFrom(rest), env: process.env });
};
const withStore = async <T>(config: RescanClientConfig, run: (store: RescanJetStream) => Promise<T>): Promise<T> => {
  const store = await RescanJetStream.connect(config.natsServers, 'quicksilver-rescan-cli', undefined, config);
  try {
    return await run(store);
  } finally {
    await store.close();
  }
};
const jobIdArgument = (value: string) => {
  const parsed = JobIdSchema.safeParse(value);
  if (!parsed.success) throw new QuicksilverError('INVALID_METADATA', `invalid job id '${value}': ${parsed.error.issues[0]!.message}`);
  return value;
};

function sub(name: string, description: string): Command {
  return addConfigOptions(new Command(name).description(description), RescanClientConfigSchema, RESCAN_ENV_PREFIX);
}

/** Follows a job until it is completed or cancelled or every row has its result; waits out NATS outages. */
async function follow(store: RescanJetStream, jobId: string, intervalMs = 1000): Promise<JobRecord> {
  const display = new ProgressDisplay(jobId);
  const tracker = new ProgressTracker();
  let unreachableSince: number | undefined;
  try {
    for (;;) {
      let job: JobRecord;
      let progress: Awaited<ReturnType<RescanJetStream['progress']>>;
      try {
        job = await store.requireJob(jobId);
        progress = await store.progress(job);
      } catch (error) {
        if (error instanceof QuicksilverError) throw error; // e.g. the job was deleted
        // NATS away (the connection reconnects by itself): the job goes on without us.
        if (unreachableSince === undefined) process.stderr.write(`job ${jobId}: NATS unreachable (${(error as Error).message}); still following\n`);
        unreachableSince ??= Date.now();
        await new Promise((r) => setTimeout(r, intervalMs));
        continue;
      }
      if (unreachableSince !== undefined) {
        process.stderr.write(`job ${jobId}: NATS reachable again after ${((Date.now() - unreachableSince) / 1000).toFixed(0)} s\n`);
        unreachableSince = undefined;
      }
      const line = tracker.update(progress);
      const finished = job.state === 'completed' || job.state === 'cancelled' || (job.totalRows !== undefined && line.done >= job.totalRows);
      display.show(job.state, line, finished);
      if (finished) return job;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  } finally {
    display.stop();
  }
}

async function submit(options: Record<string, unknown>): Promise<void> {
  const config = configOf(options);
  const jobId = options.jobId ? jobIdArgument(String(options.jobId)) : newJobId();
  await withStore(config, async (store) => {
    const summary = await submitManifest(store, {
      jobId, manifest: resolve(String(options.manifest)), format: options.format as ManifestFormat | undefined, model: config.model,
      previousJobId: options.previous ? jobIdArgument(String(options.previous)) : undefined, maxAttempts: config.maxAttempts, ackWaitMs: config.ackWaitMs,
      maxAckPending: config.maxAckPending, publishWindow: config.publishWindow, checkpointRows: config.checkpointRows,
      allowedRoots: config.allowedRoots, allowedUrlPrefixes: config.allowedUrlPrefixes, log: (line) => process.stderr.write(`${line}\n`),
    });
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    if (options.wait) {
      const finished = await follow(store, jobId);
      process.stderr.write(`job ${jobId} ${finished.state}\n`);
    }
  });
}

async function validate(options: Record<string, unknown>): Promise<void> {
  const config = configOf(options);
  let rows = 0;
  let invalid = 0;
  let peakHeapBytes = 0;
  for await (const entry of readManifest(resolve(String(options.manifest)), { format: options.format as ManifestFormat | undefined, allowedRoots: config.allowedRoots, allowedUrlPrefixes: config.allowedUrlPrefixes })) {
    rows++;
    if (!entry.ok && ++invalid <= BAD_ROWS_PRINTED) process.stderr.write(`line ${entry.line}: ${entry.reason}\n`);
    if (rows % 65_536 === 0) peakHeapBytes = Math.max(peakHeapBytes, process.memoryUsage().heapUsed);
  }
  peakHeapBytes = Math.max(peakHeapBytes, process.memoryUsage().heapUsed);
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(`${JSON.stringify({ rows, valid: rows - invalid, invalid, peakRssBytes, peakHeapBytes })}\n`);
}

async function status(jobId: string, options: Record<string, unknown>): Promise<void> {
  await withStore(configOf(options), async (store) => {
    if (options.watch) {
      const job = await follow(store, jobId);
      process.stderr.write(`job ${jobId} ${job.state}\n`);
      return;
    }
    const tracker = new ProgressTracker();
    let job = await store.requireJob(jobId);
    let progress = await store.progress(job);
    let line = tracker.update(progress);
    if (!options.json && (job.state === 'running' || job.state === 'submitting')) {
      // A rate needs two samples: a job that may be moving is read again a moment later.
      await new Promise((resolve) => setTimeout(resolve, STATUS_SAMPLE_GAP_MS));
      job = await store.requireJob(jobId);
      progress = await store.progress(job);
      line = tracker.update(progress);
    }
    if (options.json) process.stdout.write(`${JSON.stringify({ ...job, verdicts: progress.verdicts, failures: progress.failures, pending: progress.pending, inFlight: progress.inFlight })}\n`);
    else process.stdout.write(`${formatProgress(jobId, job.state, line)}\n`);
  });
}

async function setState(jobId: string, options: Record<string, unknown>, target: JobStateTarget): Promise<void> {
  await withStore(configOf(options), async (store) => {
    const { from } = await changeJobState(store, jobId, target);
    process.stdout.write(`job ${jobId}: ${from} -> ${target}\n`);
  });
}

export function rescanCommand(): Command {
  const rescan = new Command('rescan').description('whole-collection re-scans: submit a manifest, follow, pause/resume/cancel, export, report');
  rescan.addCommand(sub('submit', 'stream a CSV/JSONL manifest (barcode, uri[, taxon, family, collection]) into a durable re-scan job')
    .requiredOption('--manifest <file>', 'manifest file (.csv with a header row, or .jsonl/.ndjson)')
    .addOption(new Option('--format <format>', 'manifest format (default: from the file extension)').choices(['csv', 'jsonl']))
    .option('--job-id <id>', 'job id (default: generated); the same command with the id of an interrupted submission continues it after its checkpoint')
    .option('--previous <jobId>', 'a previous job the report compares this one with')
    .option('--wait', 'follow the job with a progress bar until it completes')
    .action((options: Record<string, unknown>) => submit(options)));
  rescan.addCommand(sub('validate', 'parse and validate a manifest without submitting it; prints counts and peak memory')
    .requiredOption('--manifest <file>', 'manifest file')
    .addOption(new Option('--format <format>', 'manifest format').choices(['csv', 'jsonl']))
    .action((options: Record<string, unknown>) => validate(options)));
  rescan.addCommand(sub('status', 'progress of a job: done (verdicts, failures), remaining, rate and ETA (a running job is sampled twice, 2 s apart)')
    .argument('<jobId>').option('--watch', 'live progress bar until the job completes').option('--json', 'print the job record and counts as JSON')
    .action((jobId: string, options: Record<string, unknown>) => status(jobIdArgument(jobId), options)));
  for (const [name, target, text] of [['pause', 'paused', 'workers stop pulling its rows (rows in flight finish)'],
    ['resume', 'running', 'workers pull its rows again'], ['cancel', 'cancelled', 'drop its remaining rows (results so far are kept)']] as const) {
    rescan.addCommand(sub(name, `${name} a job: ${text}`).argument('<jobId>')
      .action((jobId: string, options: Record<string, unknown>) => setState(jobIdArgument(jobId), options, target)));
  }
  rescan.addCommand(sub('list', 'every job with its state and counts').option('--json', 'one JSON object per job')
    .action(async (options: Record<string, unknown>) => withStore(configOf(options), async (store) => {
      for (const job of await store.listJobs()) {
        process.stdout.write(options.json ? `${JSON.stringify(job)}\n`
          : `${job.jobId}\t${job.state}\t${job.model}\trows ${job.totalRows ?? '?'}\tverdicts ${job.verdicts}\tfailures ${job.failures}\t${job.createdAt}\n`);
      }
    })));
  rescan.addCommand(sub('export', 'every row\'s verdict or failure as CSV or JSON Lines').argument('<jobId>')
    .addOption(new Option('--format <format>', 'output format').choices(['csv', 'jsonl']).default('csv'))
    .option('--out <file>', 'output file (default: stdout)')
    .action(async (jobId: string, options: Record<string, unknown>) => withStore(configOf(options), async (store) => {
      await store.requireJob(jobIdArgument(jobId));
      const out = options.out ? createWriteStream(String(options.out)) : process.stdout;
      const rows = await exportResults(store, jobId, options.format as 'csv' | 'jsonl', out);
      if (options.out) { out.end(); await once(out, 'finish'); }
      process.stderr.write(`exported ${rows} rows of ${jobId}\n`);
    })));
  rescan.addCommand(sub('report', 'HTML report: score histogram, flagged sheets with thumbnails, failures by reason, throughput; diff against a previous run')
    .argument('<jobId>').requiredOption('--out <file>', 'HTML file to write')
    .option('--against <jobId>', 'previous job to diff verdicts with (default: the job\'s --previous)')
    .addOption(new Option('--max-flagged <n>', 'flagged sheets shown with thumbnails').argParser(parseWhole).default(200))
    .action(async (jobId: string, options: Record<string, unknown>) => {
      const config = configOf(options);
      await withStore(config, async (store) => {
        const job = await store.requireJob(jobIdArgument(jobId));
        const againstId = (options.against as string | undefined) ?? job.previousJobId;
        const against = againstId ? await store.requireJob(jobIdArgument(againstId)) : undefined;
        const summary = await writeReport(store, job, String(options.out), { allowedRoots: config.allowedRoots, allowedUrlPrefixes: config.allowedUrlPrefixes, maxFlaggedShown: Number(options.maxFlagged), against });
        process.stdout.write(`${JSON.stringify({ jobId, out: options.out, ...summary })}\n`);
      });
    }));
  return rescan;
}
