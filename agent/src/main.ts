// Agent process: config -> logger, metrics -> Agent -> run until SIGTERM/SIGINT (stop watching, wait for the
// verdicts of images already sent within shutdownGraceMs, then close the stream; the rest stays spooled).
import { loadConfig } from '../../common/src/config.js';
import { runUntilSignal } from '../../common/src/lifecycle.js';
import { createLogger } from '../../common/src/logger.js';
import { createRegistry, MetricsServer } from '../../common/src/metrics.js';
import { Agent } from './agent.js';
import { AGENT_ENV_PREFIX, agentConfigSchema, resolveAgentOptions } from './config.js';

export async function main(flags: Record<string, unknown>, file?: string): Promise<void> {
  const config = loadConfig(agentConfigSchema, AGENT_ENV_PREFIX, { file, env: process.env, flags });
  const logger = createLogger({ name: 'agent', level: config.logLevel });
  const registry = createRegistry('agent');
  const agent = new Agent(resolveAgentOptions(config), { logger, registry });
  const metricsServer = new MetricsServer(registry, { host: config.metricsHost, port: config.metricsPort, logger });
  await runUntilSignal([metricsServer, agent], { logger, graceMs: config.shutdownGraceMs });
}
