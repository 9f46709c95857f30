// Coordinator process: config -> components -> start -> shutdown on SIGTERM.
import { loadConfig } from '../../common/src/config.js';
import { runUntilSignal } from '../../common/src/lifecycle.js';
import { createLogger } from '../../common/src/logger.js';
import { createRegistry } from '../../common/src/metrics.js';
import { warnWithoutServiceNodeFlags } from '../../common/src/node-flags.js';
import { COORDINATOR_ENV_PREFIX, CoordinatorConfigSchema } from './config.js';
import { Coordinator } from './coordinator.js';

export async function main(sources: { file?: string; flags: Record<string, unknown> }): Promise<void> {
  const config = loadConfig(CoordinatorConfigSchema, COORDINATOR_ENV_PREFIX, { ...sources, env: process.env });
  const logger = createLogger({ name: 'coordinator', level: config.logLevel });
  warnWithoutServiceNodeFlags(logger);
  const coordinator = new Coordinator(config, logger, createRegistry('coordinator'));
  await runUntilSignal([coordinator], { logger, graceMs: config.shutdownGraceMs });
}
