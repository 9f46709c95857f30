// `rescan submit`: streams a manifest into the job's work queue, resumably. The job record carries a
// checkpoint (SubmissionCheckpointSchema): how many rows, in file order, are stored, and how far the
// submitter may have published past them. Running the same command again (same --job-id) after an
// interruption checks that the manifest and settings are the same, checks the few uncertain rows one
// by one (still in the work stream, or with a result already) and goes on after them: no row is
// queued twice, however long after the interruption (the duplicate window plays no part).
import { randomUUID } from 'node:crypto';
import { QuicksilverError } from '../../../common/src/errors.js';
import type { RescanJetStream } from '../../../common/src/rescan/adapters/jetstream-rescan.js';
import type { ImageSources } from '../../../common/src/rescan/image-uri.js';
import { detectFormat, manifestFingerprint, readManifest, type ManifestFormat } from '../../../common/src/rescan/manifest.js';
import type { JobRecord, SubmissionCheckpoint } from '../../../common/src/rescan/records.js';

export interface SubmitOptions extends ImageSources {
  jobId: string;
  /** Absolute path of the manifest. */
  manifest: string;
  format?: ManifestFormat;
  model: string;
  previousJobId?: string;
  maxAttempts: number;
  ackWaitMs: number;
  maxAckPending: number;
  /** Publications awaiting their acknowledgement at once. */
  publishWindow: number;
  /** Rows between two checkpoints: what a resumed submission may have to check. */
  checkpointRows: number;
  /** Lines for people (stderr): what happens, the first bad rows. */
  log: (line: string) => void;
}

export interface SubmitSummary {
  jobId: string;
  rows: number;
  valid: number;
  invalid: number;
  /** Set when this run continued an interrupted submission: rows stored before it. */
  resumedAfterRow?: number;
}

const BAD_ROWS_PRINTED = 100;

/** Rows finish in any order; this tells how many, from the first, finished without a gap. */
export class ContiguousProgress {
  rowsDone: number;
  invalidRowsDone: number;
  lineDone: number;
  workSequence: number;
  /** Finished rows past a gap (at most the publication window). */
  private readonly early = new Map<number, { line: number; invalid: boolean; sequence: number }>();

  constructor(from: Pick<SubmissionCheckpoint, 'rowsDone' | 'invalidRowsDone' | 'lineDone' | 'workSequence'>) {
    ({ rowsDone: this.rowsDone, invalidRowsDone: this.invalidRowsDone, lineDone: this.lineDone, workSequence: this.workSequence } = from);
  }

  /** `row` is 1-based in file order; `sequence` is its work message's stream sequence (0: none). */
  complete(row: number, line: number, invalid: boolean, sequence = 0): void {
    this.early.set(row, { line, invalid, sequence });
    for (let next = this.early.get(this.rowsDone + 1); next; next = this.early.get(this.rowsDone + 1)) {
      this.early.delete(this.rowsDone + 1);
      this.rowsDone++;
      if (next.invalid) this.invalidRowsDone++;
      this.lineDone = next.line;
      this.workSequence = Math.max(this.workSequence, next.sequence);
    }
  }
}

const show = (value: unknown) => (value === undefined ? '(none)' : Array.isArray(value) ? value.join(',') || '(none)' : String(value));

/** Throws unless `job` may be continued by this submission (same manifest bytes, same settings). */
function checkResumable(job: JobRecord, identity: Omit<SubmissionCheckpoint, 'rowsDone' | 'invalidRowsDone' | 'lineDone' | 'workSequence' | 'rowsReserved' | 'submitter'>, options: SubmitOptions): SubmissionCheckpoint {
  const refuse = (what: string) => new QuicksilverError('INVALID_METADATA',
    `job ${job.jobId} exists already and ${what}: run the same command to continue it, or submit under another --job-id`);
  if (job.state === 'cancelled') throw refuse('was cancelled');
  const checkpoint = job.submission;
  if (!checkpoint) throw refuse('has no submission checkpoint (submitted by an older version)');
  if (checkpoint.manifestBytes !== identity.manifestBytes || checkpoint.manifestSha256 !== identity.manifestSha256) {
    throw refuse(`was submitted from another manifest (${checkpoint.manifestBytes} bytes, SHA-256 ${checkpoint.manifestSha256.slice(0, 16)}...; `
      + `${options.manifest} has ${identity.manifestBytes} bytes, SHA-256 ${identity.manifestSha256.slice(0, 16)}...)`);
  }
  const settings: Array<[string, unknown, unknown]> = [
    ['--format', checkpoint.format, identity.format], ['--allowed-roots', checkpoint.allowedRoots, identity.allowedRoots],
    ['--allowed-url-prefixes', checkpoint.allowedUrlPrefixes, identity.allowedUrlPrefixes], ['--model', job.model, options.model],
    ['--previous', job.previousJobId, options.previousJobId], ['--max-attempts', job.maxAttempts, options.maxAttempts], ['--ack-wait-ms', job.ackWaitMs, options.ackWaitMs],
  ];
  for (const [flag, was, now] of settings) {
    if (JSON.stringify(was) !== JSON.stringify(now)) throw refuse(`was submitted with ${flag} ${show(was)}, not ${show(now)}`);
  }
  return checkpoint;
}

export async function submitManifest(store: RescanJetStream, options: SubmitOptions): Promise<SubmitSummary> {
  const { jobId, log } = options;
  const format = options.format ?? detectFormat(options.manifest);
  const fingerprint = await manifestFingerprint(options.manifest, format); // refuses a manifest with a fatal fault before anything is queued
  const identity = {
    manifestBytes: fingerprint.bytes, manifestSha256: fingerprint.sha256, format,
    allowedRoots: [...options.allowedRoots], allowedUrlPrefixes: [...options.allowedUrlPrefixes],
  };
  const submitter = randomUUID();
  const now = new Date().toISOString();
  const { job: existing, created } = await store.createJob({
    jobId, state: 'submitting', manifest: options.manifest, model: options.model, previousJobId: options.previousJobId, createdAt: now, updatedAt: now,
    invalidRows: 0, maxAttempts: options.maxAttempts, ackWaitMs: options.ackWaitMs, verdicts: 0, failures: 0,
    submission: { ...identity, rowsDone: 0, invalidRowsDone: 0, lineDone: 0, workSequence: 0, rowsReserved: 0, submitter },
  });
  let checkpoint = existing.submission!;
  if (!created) {
    checkpoint = checkResumable(existing, identity, options);
    if (existing.totalRows !== undefined) {
      log(`job ${jobId}: the whole manifest was submitted already (${existing.state}); nothing to do`);
      return { jobId, rows: existing.totalRows, valid: existing.totalRows - existing.invalidRows, invalid: existing.invalidRows, resumedAfterRow: existing.totalRows };
    }
    // Take the submission over: an older `submit` of this job still running stops at its next checkpoint.
    checkpoint = (await store.updateJob(jobId, (job) => ({ ...job, submission: { ...job.submission!, submitter } }))).submission!;
  }
  await store.ensureWorkConsumer(jobId, { ackWaitMs: existing.ackWaitMs, maxAckPending: options.maxAckPending });

  // Rows between rowsDone and rowsReserved may be stored already: their lines still in the work stream.
  const stored = new Set<number>();
  if (created) {
    log(`job ${jobId}: submitting ${options.manifest} (${fingerprint.bytes} bytes); if interrupted, run the same command with --job-id ${jobId} to continue`);
  } else {
    for await (const { line } of store.storedWork(jobId, checkpoint.workSequence + 1)) stored.add(line);
    log(`job ${jobId}: continuing ${options.manifest} after row ${checkpoint.rowsDone} (line ${checkpoint.lineDone}); `
      + `checking rows ${checkpoint.rowsDone + 1}-${checkpoint.rowsReserved}, which may be queued already`);
  }

  const progress = new ContiguousProgress(checkpoint);
  let reserved = checkpoint.rowsReserved;
  const saveCheckpoint = async (rowsReserved: number) => {
    const job = await store.updateJob(jobId, (current) => {
      if (current.submission?.submitter !== submitter) throw new QuicksilverError('INVALID_METADATA', `another \`rescan submit\` took over job ${jobId}; this one stops`);
      const { rowsDone, invalidRowsDone, lineDone, workSequence } = progress;
      return { ...current, submission: { ...current.submission, rowsDone, invalidRowsDone, lineDone, workSequence, rowsReserved } };
    });
    return job.state;
  };

  const outstanding = new Set<Promise<void>>();
  let failure: unknown;
  const track = (publication: Promise<void>) => {
    const settled = publication.catch((error: unknown) => { failure ??= error; });
    outstanding.add(settled);
    void settled.finally(() => outstanding.delete(settled));
  };
  const failed = () => new QuicksilverError('UNAVAILABLE',
    `publishing rows of job ${jobId} failed: ${(failure as Error).message ?? failure}; run the same command again to continue after row ${progress.rowsDone}`);
  let row = checkpoint.rowsDone;
  let invalid = 0;
  let alreadyQueued = 0;
  let cancelled = false;
  for await (const entry of readManifest(options.manifest, { ...identity, skipRows: checkpoint.rowsDone })) {
    row++;
    if (failure) break;
    if (!entry.ok && ++invalid <= BAD_ROWS_PRINTED) log(`line ${entry.line}: ${entry.reason}`);
    if (row > reserved) {
      reserved = row - 1 + options.checkpointRows;
      if (await saveCheckpoint(reserved) === 'cancelled') {
        cancelled = true;
        break;
      }
    }
    const line = entry.ok ? entry.item.line : entry.line;
    if (row <= checkpoint.rowsReserved && (stored.has(line) || await store.hasResult(jobId, line))) {
      alreadyQueued++;
      progress.complete(row, line, !entry.ok);
      continue;
    }
    const thisRow = row;
    track(entry.ok
      ? store.publishWork(jobId, entry.item).then((sequence) => progress.complete(thisRow, line, false, sequence))
      // A bad row ends as a failure record too: every row of the manifest is accounted for.
      : store.publishResult({
        kind: 'failure', jobId, line, barcode: entry.barcode, uri: entry.uri, code: 'INVALID_METADATA', reason: entry.reason,
        attempts: 0, decidedAt: new Date().toISOString(),
      }).then(() => progress.complete(thisRow, line, true)));
    if (outstanding.size >= options.publishWindow) await Promise.race(outstanding);
  }
  await Promise.all(outstanding);
  if (failure) {
    await saveCheckpoint(reserved).catch(() => {});
    throw failed();
  }
  const stopCancelled = async () => {
    await store.purgeWork(jobId); // rows published after `cancel` purged the queue
    return new QuicksilverError('INVALID_METADATA', `job ${jobId} was cancelled; submission stopped after row ${progress.rowsDone}`);
  };
  if (cancelled) throw await stopCancelled();
  if (progress.rowsDone !== row) throw new QuicksilverError('INTERNAL', `job ${jobId}: ${row} rows read but ${progress.rowsDone} recorded`);
  if (invalid > BAD_ROWS_PRINTED) log(`... and ${invalid - BAD_ROWS_PRINTED} more bad rows (see \`quicksilver rescan export ${jobId}\`)`);
  if (alreadyQueued > 0) log(`job ${jobId}: ${alreadyQueued} rows after the checkpoint were queued already and were not published again`);
  const totalInvalid = progress.invalidRowsDone;
  const final = await store.updateJob(jobId, (current) => {
    if (current.submission?.submitter !== submitter) throw new QuicksilverError('INVALID_METADATA', `another \`rescan submit\` took over job ${jobId}; this one stops`);
    return {
      ...current, state: current.state === 'submitting' ? 'running' : current.state, totalRows: row, invalidRows: totalInvalid,
      submission: { ...current.submission, rowsDone: progress.rowsDone, invalidRowsDone: totalInvalid, lineDone: progress.lineDone, workSequence: progress.workSequence, rowsReserved: row },
    };
  });
  if (final.state === 'cancelled') throw await stopCancelled();
  return { jobId, rows: row, valid: row - totalInvalid, invalid: totalInvalid, ...(created ? {} : { resumedAfterRow: checkpoint.rowsDone }) };
}
