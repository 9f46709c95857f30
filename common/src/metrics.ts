// One prom-client Registry per process, created in main.ts and injected into components.
// serveMetrics exposes it on /metrics (plus /healthz for simple probes).
import { createServer, type Server } from 'node:http';
import { AggregatorRegistry, collectDefaultMetrics, Registry } from 'prom-client';
import type { Component } from './lifecycle.js';
import type { Logger } from './logger.js';

/** Latency buckets in seconds, from 1 ms to 2 min (conveyor verdicts are expected in well under 5 s). */
export const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** A registry's metrics as JSON (`getMetricsAsJSON()`), e.g. sent by a child process. */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

export function createRegistry(processName: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ process: processName });
  collectDefaultMetrics({ register: registry });
  // prom-client also exports these gauges with a `_total` suffix (reserved for counters; promtool
  // check metrics refuses them); the same values stay available without the suffix.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  return registry;
}

export class MetricsServer implements Component {
  readonly name = 'metrics-server';
  private server: Server | undefined;
  private boundPort = 0;

  constructor(
    private readonly registry: Registry,
    /**
     * isReady: true = ready; false, or the reason as a string = /readyz answers 503 (with the reason).
     * childMetrics: metrics of child processes served with this registry's (their series must differ by label, e.g. `process`).
     */
    private readonly options: {
      host: string; port: number; logger: Logger; isReady?: () => boolean | string;
      childMetrics?: () => Promise<MetricsJson[]>;
    },
  ) {}

  private async exposition(): Promise<string> {
    if (!this.options.childMetrics) return this.registry.metrics();
    const [own, children] = await Promise.all([this.registry.getMetricsAsJSON(), this.options.childMetrics()]);
    // Series of different processes differ by label and pass through a sum unchanged; the metrics' own
    // aggregators would drop or merge some (process_start_time_seconds: 'omit').
    return AggregatorRegistry.aggregate([own, ...children].map((metrics) => metrics.map((metric) => ({ ...metric, aggregator: 'sum' })))).metrics();
  }

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      if (req.url === '/metrics') {
        this.exposition().then(
          (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
          (error: Error) => res.writeHead(500).end(error.message),
        );
      } else if (req.url === '/healthz') {
        res.writeHead(200).end('ok\n');
      } else if (req.url === '/readyz') {
        const ready = this.options.isReady?.() ?? true;
        if (ready === true) res.writeHead(200).end('ready\n');
        else res.writeHead(503).end(typeof ready === 'string' ? `not ready: ${ready}\n` : 'not ready\n');
      } else {
        res.writeHead(404).end('not found: try /metrics\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    const address = server.address();
    this.boundPort = typeof address === 'object' && address ? address.port : this.options.port;
    this.server = server;
    this.options.logger.info({ url: `http://${this.options.host}:${this.boundPort}/metrics` }, 'metrics served');
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
