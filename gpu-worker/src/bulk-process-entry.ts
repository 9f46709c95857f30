// The bulk process of a worker with `bulkProcess` (bulk-process.ts): a bulk-only Worker started, asked for
// its metrics and stopped by the parent over the IPC channel. The parent decides when it stops: SIGINT and
// SIGTERM (a terminal's Ctrl-C, or systemd, reach every process of the group) are left to the parent, which
// then sends `stop`; when the parent is gone (the channel closes) it drains and exits on its own.
import { createLogger } from '../../common/src/logger.js';
import { createRegistry } from '../../common/src/metrics.js';
import { BULK_PROCESS_METRICS_NAME, type FromBulkProcess, type ToBulkProcess } from './bulk-process.js';
import { WorkerConfigSchema, type WorkerConfig } from './config.js';
import { Worker } from './worker.js';

const registry = createRegistry(BULK_PROCESS_METRICS_NAME);
let config: WorkerConfig | undefined;
let worker: Worker | undefined;
let stopping: Promise<void> | undefined;

/** Resolves once the message is handed to the channel (before an exit, so it is not lost). */
const send = (message: FromBulkProcess) => new Promise<void>((resolve) => {
  if (process.connected) process.send!(message, undefined, {}, () => resolve());
  else resolve();
});

const stop = (graceMs: number) => stopping ??= (async () => {
  await worker?.stop(AbortSignal.timeout(graceMs)).catch(() => {});
  process.exit(0);
})();

process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
process.on('disconnect', () => void stop(config?.shutdownGraceMs ?? 15_000));
process.on('message', (message: ToBulkProcess) => {
  if (message.kind === 'start') {
    void (async () => {
      try {
        config = WorkerConfigSchema.parse(message.config);
        worker = new Worker(config, createLogger({ name: 'gpu-worker-bulk', level: config.logLevel }), registry);
        await worker.start();
        await send({ kind: 'started' });
      } catch (error) {
        await send({ kind: 'failed', message: error instanceof Error ? error.message : String(error) });
        process.exit(1);
      }
    })();
  } else if (message.kind === 'metrics') {
    void registry.getMetricsAsJSON().then((metrics) => send({ kind: 'metrics', id: message.id, metrics }));
  } else {
    void stop(message.graceMs);
  }
});
