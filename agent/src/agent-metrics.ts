// The agent's Prometheus metrics (spool health), registered on the process's injected registry.
import { Gauge, type Registry } from 'prom-client';

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
