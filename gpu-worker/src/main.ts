// gpu-worker process: config -> components -> start -> shutdown on SIGTERM.
import { loadConfig } from '../../common/src/config.js';
import { runUntilSignal } from '../../common/src/lifecycle.js';
import { createLogger } from '../../common/src/logger.js';
import { createRegistry } from '../../common/src/metrics.js';
import { warnWithoutServiceNodeFlags } from '../../common/src/node-flags.js';
import { WORKER_ENV_PREFIX, WorkerConfigSchema } from './config.js';
import { Worker } from './worker.js';

export async function main(sources: { file?: string; flags: Record<string, unknown> }): Promise<void> {
  const config = loadConfig(WorkerConfigSchema, WORKER_ENV_PREFIX, { ...sources, env: process.env });
  const logger = createLogger({ name: 'gpu-worker', level: config.logLevel });
  warnWithoutServiceNodeFlags(logger);
  await runUntilSignal([new Worker(config, logger, createRegistry('gpu-worker'))], { logger, graceMs: config.shutdownGraceMs });
}
