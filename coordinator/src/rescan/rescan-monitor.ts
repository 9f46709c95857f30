// Watches re-scan jobs: exports per-job progress as Prometheus gauges and marks a job completed once
// every row has its verdict or failure. Holds no per-image state: every count is read from the
// JetStream streams each round, so any number of coordinators may run it (job updates are
// compare-and-set) and a restarted coordinator simply picks up where the streams are.
import { Gauge, type Registry } from 'prom-client';
import type { Component } from '../../../common/src/lifecycle.js';
import type { Logger } from '../../../common/src/logger.js';
import { JOB_STATES, type JobProgress, type JobRecord } from '../../../common/src/rescan/records.js';

/** What the monitor needs from JetStream (RescanJetStream implements it). */
export interface RescanJobStore {
  listJobs(): Promise<JobRecord[]>;
  progress(job: JobRecord): Promise<JobProgress>;
  updateJob(jobId: string, change: (job: JobRecord) => JobRecord | undefined): Promise<JobRecord>;
  close(): Promise<void>;
}

export interface RescanMonitorOptions {
  connect: () => Promise<RescanJobStore>;
  intervalMs: number;
  logger: Logger;
  registry: Registry;
}

export class RescanMonitor implements Component {
  readonly name = 'rescan-monitor';
  private store: RescanJobStore | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** The round now running (or the last one): rounds never overlap nor queue up. */
  private round: Promise<void> = Promise.resolve();
  private readonly rows: Gauge<'job' | 'status'>;
  private readonly state: Gauge<'job' | 'state'>;

  constructor(private readonly options: RescanMonitorOptions) {
    this.rows = new Gauge({
      name: 'quicksilver_rescan_job_rows', help: 'Rows of a re-scan job by status: total, verdict, failure, pending (waiting or in flight), in_flight',
      labelNames: ['job', 'status'], registers: [options.registry],
    });
    this.state = new Gauge({
      name: 'quicksilver_rescan_job_state', help: 'State of a re-scan job (1 for its current state)',
      labelNames: ['job', 'state'], registers: [options.registry],
    });
  }

  /**
   * Never fails the coordinator's start: while NATS is unreachable each round tries to connect again.
   * The next round starts `intervalMs` after the previous one ends, so slow rounds (a large results
   * stream) space out instead of piling up.
   */
  async start(): Promise<void> {
    this.running = true;
    this.runRound();
  }

  private runRound(): void {
    this.round = this.connectAndCheck().finally(() => {
      if (this.running) this.timer = setTimeout(() => this.runRound(), this.options.intervalMs);
    });
  }

  private async connectAndCheck(): Promise<void> {
    if (!this.store) {
      try {
        this.store = await this.options.connect();
      } catch (error) {
        this.options.logger.warn({ err: (error as Error).message }, 're-scan monitor cannot reach NATS yet; retrying');
        return;
      }
      if (!this.running) { // stopped while connecting
        await this.store.close().catch(() => {});
        this.store = undefined;
        return;
      }
    }
    await this.check();
  }

  /** Waits for the round in progress only (it ends after the job it is counting); no later round starts. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.round;
    await this.store?.close().catch(() => {});
    this.store = undefined;
  }

  /** One round: every job that is not finished is recounted; a finished one is marked completed. */
  async check(): Promise<void> {
    const store = this.store;
    if (!store) return;
    try {
      for (const job of await store.listJobs()) {
        if (!this.running) break; // stopping: the next coordinator's round recounts
        for (const state of JOB_STATES) this.state.set({ job: job.jobId, state }, state === job.state ? 1 : 0);
        if (job.state === 'completed' || job.state === 'cancelled') {
          this.setRows(job.jobId, job.totalRows ?? 0, job.verdicts, job.failures, 0, 0);
          continue;
        }
        const { verdicts, failures, pending, inFlight } = await store.progress(job);
        this.setRows(job.jobId, job.totalRows ?? verdicts + failures + pending, verdicts, failures, pending, inFlight);
        const finished = job.state === 'running' && job.totalRows !== undefined && verdicts + failures >= job.totalRows;
        const updated = await store.updateJob(job.jobId, (current) => {
          if (current.state === 'cancelled' || current.state === 'completed') return undefined;
          if (finished && current.state === 'running') {
            return { ...current, state: 'completed', verdicts, failures, completedAt: new Date().toISOString() };
          }
          return current.verdicts === verdicts && current.failures === failures ? undefined : { ...current, verdicts, failures };
        });
        if (finished && updated.state === 'completed') {
          this.options.logger.info({ job: job.jobId, verdicts, failures, totalRows: job.totalRows }, 're-scan job completed');
        }
      }
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message }, 're-scan monitor round failed');
    }
  }

  private setRows(job: string, total: number, verdicts: number, failures: number, pending: number, inFlight: number): void {
    this.rows.set({ job, status: 'total' }, total);
    this.rows.set({ job, status: 'verdict' }, verdicts);
    this.rows.set({ job, status: 'failure' }, failures);
    this.rows.set({ job, status: 'pending' }, pending);
    this.rows.set({ job, status: 'in_flight' }, inFlight);
  }
}
