// A worker's bulk work in a child process (config `bulkProcess`): the child is a bulk-only worker under
// SCHED_IDLE that registers as `<workerId>-bulk`, and this process takes conveyor images only. The OS then
// gives a conveyor sheet's decode the cores first, which one process cannot do: its libvips and libuv
// threads serve both lanes (docs/performance.md). The child runs as long as this component, is restarted
// with a backoff when it exits or cannot start (this process keeps serving the conveyor meanwhile, and
// quicksilver_worker_bulk_process_up says 0), and stops when this process goes away (its IPC channel closes).
// IPC (JSON): parent -> child `start` / `metrics` / `stop`; child -> parent `started` / `failed` / `metrics`.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Counter, Gauge, type Registry } from 'prom-client';
import { BULK_PROCESS_ID_SUFFIX } from '../../common/src/access-control.js';
import { QuicksilverError } from '../../common/src/errors.js';
import type { Component } from '../../common/src/lifecycle.js';
import type { Logger } from '../../common/src/logger.js';
import type { MetricsJson } from '../../common/src/metrics.js';
import { SERVICE_NODE_FLAGS } from '../../common/src/node-flags.js';
import { WorkerConfigSchema, type WorkerConfig } from './config.js';

export type ToBulkProcess = { kind: 'start'; config: WorkerConfig } | { kind: 'metrics'; id: number } | { kind: 'stop'; graceMs: number };
export type FromBulkProcess = { kind: 'started' } | { kind: 'failed'; message: string } | { kind: 'metrics'; id: number; metrics: MetricsJson };

/** The `process` label of the child's metrics (this process's is `gpu-worker`). */
export const BULK_PROCESS_METRICS_NAME = 'gpu-worker-bulk';
/** A child that ran this long before it exited is restarted after the shortest delay again. */
const STABLE_RUN_MS = 60_000;
const METRICS_TIMEOUT_MS = 2000;
/** Pauses before restarts double from 1 s up to this. */
const RESTART_MAX_DELAY_MS = 30_000;

/**
 * With `bulkProcess`: this process's config (realtime only) and the child's (bulk only, SCHED_IDLE, its own
 * worker id, metrics and health on loopback ports of its own that nothing needs to reach); else undefined.
 */
export function splitForBulkProcess(config: WorkerConfig): { realtime: WorkerConfig; bulk: WorkerConfig } | undefined {
  if (!config.bulkProcess) return undefined;
  if (!config.priorities.includes('realtime') || !config.priorities.includes('bulk')) {
    throw new QuicksilverError('CONFIG_INVALID', `bulkProcess: the worker must take both classes (priorities realtime,bulk), not ${config.priorities.join(',')}: it keeps realtime and runs bulk in its child`);
  }
  const bulkId = `${config.workerId}${BULK_PROCESS_ID_SUFFIX}`;
  if (!WorkerConfigSchema.shape.workerId.safeParse(bulkId).success) {
    throw new QuicksilverError('CONFIG_INVALID', `bulkProcess: the bulk process's worker id ${bulkId} is over 128 characters; shorten workerId`);
  }
  return {
    realtime: { ...config, bulkProcess: false, priorities: ['realtime'] },
    bulk: {
      ...config, bulkProcess: false, priorities: ['bulk'], workerId: bulkId, idleScheduling: true,
      healthAddress: '127.0.0.1:0', metricsHost: '127.0.0.1', metricsPort: 0,
    },
  };
}

export class BulkProcess implements Component {
  readonly name = 'bulk-process';
  private child: ChildProcess | undefined;
  private running = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private failuresInARow = 0;
  private nextMetricsId = 0;
  private readonly metricsWaiting = new Map<number, (metrics: MetricsJson | undefined) => void>();
  private readonly restarts: Counter;
  private readonly up: Gauge;

  constructor(private readonly options: {
    /** The child's config (splitForBulkProcess). */
    config: WorkerConfig;
    logger: Logger;
    registry: Registry;
  }) {
    this.restarts = new Counter({
      name: 'quicksilver_worker_bulk_process_restarts_total', help: 'Times the bulk process (bulkProcess) exited and was started again',
      registers: [options.registry],
    });
    this.up = new Gauge({
      name: 'quicksilver_worker_bulk_process_up', help: 'Whether the bulk process (bulkProcess) has started and runs (1) or not (0: bulk work goes to other workers)',
      registers: [options.registry],
    });
  }

  /** The child's process id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Starts the child and waits until its worker has started (models warm). A child that cannot start is
   * logged with its reason and tried again with a backoff, while this process serves the conveyor.
   */
  async start(): Promise<void> {
    this.running = true;
    try {
      await this.launch();
    } catch (error) {
      this.options.logger.error({ err: (error as Error).message }, 'bulk process could not start; trying again (bulk work goes to other workers meanwhile)');
    }
  }

  private launch(): Promise<void> {
    const entry = fileURLToPath(new URL('./bulk-process-entry.js', import.meta.url));
    const child = fork(entry, [], { execArgv: [...SERVICE_NODE_FLAGS], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    this.child = child;
    const launchedAt = Date.now();
    return new Promise<void>((resolve, reject) => {
      /** The first answer (started or failed) or the exit settles the launch; `up` once the worker started. */
      let settled = false;
      let up = false;
      child.on('message', (message: FromBulkProcess) => {
        if (message.kind === 'metrics') {
          this.metricsWaiting.get(message.id)?.(message.metrics);
        } else if (!settled) {
          settled = true;
          if (message.kind === 'started') {
            up = true;
            this.up.set(1);
            resolve();
          } else {
            reject(new QuicksilverError('INTERNAL', `the bulk process (bulkProcess) could not start: ${message.message}`));
          }
        }
      });
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        this.up.set(0);
        for (const answer of this.metricsWaiting.values()) answer(undefined);
        if (!settled) {
          settled = true;
          reject(new QuicksilverError('INTERNAL', `the bulk process (bulkProcess) exited before it started (code ${code}, signal ${signal})`));
        }
        // Every exit while running (a crash, or a start refused: logged by whoever awaited the launch) schedules the next try.
        if (!this.running) return;
        const ranMs = Date.now() - launchedAt;
        if (up) this.options.logger.error({ code, signal, ranMs }, 'bulk process exited; starting it again (the coordinator gives its tasks to other workers)');
        if (ranMs >= STABLE_RUN_MS) this.failuresInARow = 0;
        this.scheduleRestart();
      });
      child.send({ kind: 'start', config: this.options.config } satisfies ToBulkProcess);
    });
  }

  private scheduleRestart(): void {
    const delayMs = Math.min(1000 * 2 ** this.failuresInARow, RESTART_MAX_DELAY_MS);
    this.failuresInARow++;
    this.restartTimer = setTimeout(() => {
      if (!this.running) return;
      this.restarts.inc();
      // A refused start ends in the child's exit, which schedules the next try.
      this.launch().then(
        () => this.options.logger.info({ pid: this.pid }, 'bulk process started again'),
        (error: Error) => {
          if (this.running) this.options.logger.error({ err: error.message }, 'bulk process failed to start again');
        },
      );
    }, delayMs);
  }

  /** The child's metrics as JSON ([] while it is not running or does not answer in time). */
  async metrics(): Promise<MetricsJson[]> {
    const child = this.child;
    if (!child?.connected) return [];
    const id = this.nextMetricsId++;
    const metrics = await new Promise<MetricsJson | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), METRICS_TIMEOUT_MS);
      this.metricsWaiting.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      child.send({ kind: 'metrics', id } satisfies ToBulkProcess, (error) => { if (error) resolve(undefined); });
    });
    this.metricsWaiting.delete(id);
    return metrics ? [metrics] : [];
  }

  /** Asks the child to drain and stop (its own grace: shutdownGraceMs); kills it when `signal` aborts first. Idempotent. */
  async stop(signal: AbortSignal): Promise<void> {
    this.running = false;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const kill = () => child.kill('SIGKILL');
    if (signal.aborted) kill();
    else signal.addEventListener('abort', kill, { once: true });
    if (child.connected) child.send({ kind: 'stop', graceMs: this.options.config.shutdownGraceMs } satisfies ToBulkProcess, () => {});
    else kill();
    await exited;
    signal.removeEventListener('abort', kill);
  }
}
