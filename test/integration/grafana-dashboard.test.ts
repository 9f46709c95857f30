// Every panel query of deploy/grafana/dashboards/quicksilver.json returns data from a real
// Prometheus (the `prometheus` binary on a free port, 1 s scrapes) scraping a running Quicksilver:
// nats-server, coordinator, a worker, an agent fed through its hot folder (good, unreadable and
// corrupt images) and curator feedback over NATS.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from 'nats';
import { Agent, type RejectionEvent, type VerdictEvent } from '../../agent/src/agent.js';
import { agentConfigSchema, resolveAgentOptions } from '../../agent/src/config.js';
import { loadConfig } from '../../common/src/config.js';
import { feedbackSubject, type FeedbackReply } from '../../common/src/feedback.js';
import { freePort } from '../../common/src/local-processes.js';
import { createRegistry, MetricsServer } from '../../common/src/metrics.js';
import { repoRoot } from '../../common/src/paths.js';
import { syntheticSheets } from '../../common/src/synth/index.js';
import { silentLogger, startCluster, until, type Cluster } from '../helpers/cluster.js';

interface Panel { title: string; type: string; targets?: { expr: string }[] }

const STATION = 'grafana-station';
const SHEETS = 12;

describe('Grafana dashboard against a real Prometheus', { timeout: 240_000 }, () => {
  let cluster: Cluster;
  let agent: Agent;
  let agentMetrics: MetricsServer;
  let prometheus: ChildProcess | undefined;
  let prometheusUrl = '';
  let prometheusLog = '';

  before(async () => {
    cluster = await startCluster({ workers: 1 });
    const hotFolder = join(cluster.dir, 'hot-folder');
    mkdirSync(hotFolder);
    const options = resolveAgentOptions(loadConfig(agentConfigSchema, 'QS_TEST_UNUSED', {
      flags: { coordinatorAddress: cluster.coordinatorAddress, watchDir: hotFolder, stationId: STATION, stabilityThresholdMs: 200, display: false },
    }));
    const registry = createRegistry('agent');
    agent = new Agent(options, { logger: silentLogger, registry });
    agentMetrics = new MetricsServer(registry, { host: '127.0.0.1', port: 0, logger: silentLogger });
    await agentMetrics.start();
    await agent.start();

    const port = await freePort();
    prometheusUrl = `http://127.0.0.1:${port}`;
    const target = (p: number) => `['127.0.0.1:${p}']`;
    const config = join(cluster.dir, 'prometheus.yml');
    writeFileSync(config, [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      `  - { job_name: quicksilver-coordinator, static_configs: [{ targets: ${target(cluster.coordinator.metricsServer.port)} }] }`,
      `  - { job_name: quicksilver-worker, static_configs: [{ targets: ${target(cluster.workers[0]!.metricsServer.port)} }] }`,
      `  - { job_name: quicksilver-agent, static_configs: [{ targets: ${target(agentMetrics.port)} }] }`,
      '',
    ].join('\n'));
    prometheus = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(cluster.dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    prometheus.stderr!.on('data', (chunk: Buffer) => { prometheusLog = (prometheusLog + chunk.toString()).slice(-4000); });
    await until(async () => (await query('sum(up)').catch(() => [])).length > 0 && Number((await query('sum(up)'))[0]!.value[1]) === 3, 30_000, `Prometheus to scrape 3 targets (${prometheusLog})`);
  });

  after(async () => {
    prometheus?.kill('SIGTERM');
    await agent?.stop(AbortSignal.timeout(5000));
    await agentMetrics?.stop();
    await cluster?.stop();
  });

  async function query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = await response.json() as { status: string; error?: string; data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
    return body.data.result;
  }

  it('every panel query returns data once traffic and feedback have flowed', async (t) => {
    const verdicts: VerdictEvent[] = [];
    const rejections: RejectionEvent[] = [];
    agent.on('verdict', (event) => verdicts.push(event));
    agent.on('rejection', (event) => rejections.push(event));
    const hotFolder = join(cluster.dir, 'hot-folder');
    const truth = new Map<string, boolean>();
    let first: Buffer | undefined;
    for await (const sheet of syntheticSheets({ seed: 777, count: SHEETS, contaminatedFraction: 0.5, width: 750, height: 1000 })) {
      first ??= sheet.bytes;
      truth.set(sheet.fileName, sheet.truth.contaminated);
      writeFileSync(join(hotFolder, sheet.fileName), sheet.bytes);
    }
    writeFileSync(join(hotFolder, 'not-an-image.jpg'), 'plain text, not a JPEG');
    writeFileSync(join(hotFolder, 'truncated.jpg'), first!.subarray(0, 2000));
    await until(() => verdicts.length === SHEETS && rejections.length === 2, 120_000, `${SHEETS} verdicts and 2 rejections (have ${verdicts.length}, ${rejections.length})`);

    const nats = await connect({ servers: cluster.nats.url });
    for (const event of verdicts) {
      const reply = (await nats.request(feedbackSubject(STATION), JSON.stringify({
        schema: 'quicksilver.feedback.v1', idempotencyKey: event.verdict.idempotencyKey, contaminated: truth.get(event.fileName), method: 'xrf',
      }), { timeout: 5000 })).json<FeedbackReply>();
      assert.equal(reply.accepted, true, JSON.stringify(reply));
    }
    await nats.request(feedbackSubject(STATION), 'not json', { timeout: 5000 });
    await nats.close();
    assert.ok(verdicts.some((v) => v.verdict.flagged && truth.get(v.fileName)), 'at least one true positive so recall panels have data');

    const dashboard = JSON.parse(readFileSync(join(repoRoot(), 'deploy/grafana/dashboards/quicksilver.json'), 'utf8')) as { panels: Panel[] };
    const queries = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })));
    assert.ok(queries.length >= 25, `dashboard has ${queries.length} queries`);
    // Scrapes every second: wait until the last panel query sees the feedback, then ask for every one.
    await until(async () => (await query('sum(quicksilver_feedback_total)')).some((r) => Number(r.value[1]) === SHEETS), 30_000, 'feedback to be scraped');
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const empty: string[] = [];
    for (const { panel, expr } of queries) {
      const result = await query(expr);
      if (result.length === 0) empty.push(`${panel}: ${expr}`);
    }
    t.diagnostic(`${queries.length} queries from ${dashboard.panels.filter((p) => p.type !== 'row').length} panels`);
    assert.deepEqual(empty, [], 'panel queries without data');
  });
});
