// The agent's Prometheus metrics (spool health, outcomes), registered on the process's injected registry.
import { Counter, Gauge, type Registry } from 'prom-client';
import { ERROR_CODES } from '../../common/src/errors.js';
import type { Agent } from './agent.js';

export type AgentMetrics = ReturnType<typeof createAgentMetrics>;

export function createAgentMetrics(registry: Registry, spool: { bytes: number; images: number; oldestAgeSeconds(): number }) {
  const registers = [registry];
  return {
    spoolBytes: new Gauge({ name: 'quicksilver_agent_spool_bytes', help: 'Image bytes in the durable spool (picked up, outcome not yet filed)', registers, collect() { this.set(spool.bytes); } }),
    spoolImages: new Gauge({ name: 'quicksilver_agent_spool_images', help: 'Images in the durable spool', registers, collect() { this.set(spool.images); } }),
    spoolOldestAge: new Gauge({
      name: 'quicksilver_agent_spool_oldest_age_seconds', help: 'Age of the oldest image in the spool (0 when empty)', registers,
      collect() { this.set(spool.oldestAgeSeconds()); },
    }),
    spoolFull: new Gauge({ name: 'quicksilver_agent_spool_full', help: '1 while the spool budget is reached and new files stay in the hot folder', registers }),
  };
}

/** Outcomes, retries, stream drops and in-flight images, counted from the agent's events. */
export function registerAgentEventMetrics(
  registry: Registry,
  agent: Pick<Agent, 'on' | 'inFlight'>,
  stationId: string,
): void {
  const registers = [registry];
  new Gauge({
    name: 'quicksilver_agent_images_in_flight', help: 'Images sent to the coordinator and awaiting a verdict', labelNames: ['station'], registers,
    collect() { this.set({ station: stationId }, agent.inFlight); },
  });
  const verdicts = new Counter({ name: 'quicksilver_agent_verdicts_total', help: 'Verdicts received and filed', labelNames: ['station', 'label'], registers });
  const rejections = new Counter({ name: 'quicksilver_agent_rejections_total', help: 'Images filed as rejected, by error code', labelNames: ['station', 'code'], registers });
  const retries = new Counter({ name: 'quicksilver_agent_retries_total', help: 'Retryable rejections (image kept and resent), by error code', labelNames: ['station', 'code'], registers });
  const disconnects = new Counter({ name: 'quicksilver_agent_stream_disconnects_total', help: 'Inspect streams lost (the agent reconnects and resends)', labelNames: ['station'], registers });
  // Zero series from the start, so rates and alerts work before the first event.
  for (const [code, { retryable }] of Object.entries(ERROR_CODES)) if (retryable) retries.inc({ station: stationId, code }, 0);
  disconnects.inc({ station: stationId }, 0);
  agent.on('verdict', (event) => verdicts.inc({ station: stationId, label: event.verdict.label }));
  agent.on('rejection', (event) => rejections.inc({ station: stationId, code: event.code }));
  agent.on('retry', (event) => retries.inc({ station: stationId, code: event.code }));
  agent.on('disconnected', () => disconnects.inc({ station: stationId }));
}
