// The agent's Prometheus metrics: spool health (images picked up without an outcome, and the age
// of the oldest), outcomes, retries and stream drops. The spool gauges are named for the durable
// spool too: whatever holds the station's pending images reports them here.
import { Counter, Gauge, type Registry } from 'prom-client';
import { ERROR_CODES } from '../../common/src/errors.js';
import type { Agent } from './agent.js';

export function registerAgentMetrics(registry: Registry, agent: Agent, stationId: string): void {
  const registers = [registry];
  new Gauge({
    name: 'quicksilver_agent_spool_images', help: 'Images picked up at the station without an outcome yet (queued, uploading, awaiting a verdict, backing off)',
    labelNames: ['station'], registers,
    collect() { this.set({ station: stationId }, agent.spoolStatus().pending); },
  });
  new Gauge({
    name: 'quicksilver_agent_spool_oldest_age_seconds', help: 'Age of the oldest image without an outcome (0 when the spool is empty)',
    labelNames: ['station'], registers,
    collect() { this.set({ station: stationId }, agent.spoolStatus().oldestAgeSeconds); },
  });
  new Gauge({
    name: 'quicksilver_agent_images_in_flight', help: 'Images sent to the coordinator and awaiting a verdict',
    labelNames: ['station'], registers,
    collect() { this.set({ station: stationId }, agent.spoolStatus().inFlight); },
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
