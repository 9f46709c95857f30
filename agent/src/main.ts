// Agent process: config -> logger -> Agent -> run until SIGTERM/SIGINT (stop watching, wait for the
// verdicts of images already sent within shutdownGraceMs, then close the stream).
import { loadConfig } from '../../common/src/config.js';
import { runUntilSignal, type Component } from '../../common/src/lifecycle.js';
import type { Logger } from '../../common/src/logger.js';
import { createLogger } from '../../common/src/logger.js';
import { createRegistry, MetricsServer } from '../../common/src/metrics.js';
import { Agent } from './agent.js';
import { registerAgentMetrics } from './agent-metrics.js';
import { AGENT_ENV_PREFIX, agentConfigSchema, resolveAgentOptions } from './config.js';

export async function main(flags: Record<string, unknown>, file?: string): Promise<void> {
  const config = loadConfig(agentConfigSchema, AGENT_ENV_PREFIX, { file, env: process.env, flags });
  const logger = createLogger({ name: 'agent', level: config.logLevel });
  const agent = new Agent(resolveAgentOptions(config), { logger });
  const components: Component[] = [agent];
  if (config.metricsPort >= 0) {
    const registry = createRegistry('agent');
    registerAgentMetrics(registry, agent, config.stationId);
    components.unshift(new OptionalComponent(new MetricsServer(registry, { host: config.metricsHost, port: config.metricsPort, logger }), logger));
  }
  await runUntilSignal(components, { logger, graceMs: config.shutdownGraceMs });
}

/** Metrics must never keep a station from filing images: a failed start is logged, not fatal. */
class OptionalComponent implements Component {
  readonly name: string;
  private started = false;
  constructor(private readonly inner: Component, private readonly logger: Logger) {
    this.name = inner.name;
  }
  async start(): Promise<void> {
    try {
      await this.inner.start();
      this.started = true;
    } catch (error) {
      this.logger.error({ err: (error as Error).message, component: this.name }, 'could not start; the agent runs without it');
    }
  }
  async stop(signal: AbortSignal): Promise<void> {
    if (this.started) await this.inner.stop(signal);
  }
}
