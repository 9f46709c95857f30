// promtool (Debian's prometheus package, installed by scripts/setup.sh) on what deploy/prometheus
// ships: the alert rules and their unit tests, the scrape config, and the agent's exposition
// (coordinator and worker expositions are checked against a live cluster in drift-feedback.test.ts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Agent } from '../../agent/src/agent.js';
import { agentConfigSchema, resolveAgentOptions } from '../../agent/src/config.js';
import { loadConfig } from '../../common/src/config.js';
import { createRegistry } from '../../common/src/metrics.js';
import { repoRoot } from '../../common/src/paths.js';
import { silentLogger } from '../helpers/cluster.js';
import { promtoolCheckMetrics, sample } from '../helpers/observability.js';

const deploy = join(repoRoot(), 'deploy', 'prometheus');
const promtool = (...args: string[]) => execFileSync('promtool', args, { cwd: deploy, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('promtool on deploy/prometheus', { timeout: 60_000 }, () => {
  it('check rules: alerts.yml is valid', () => {
    assert.match(promtool('check', 'rules', 'alerts.yml'), /SUCCESS: \d+ rules found/);
  });

  it('test rules: every alert fires (and stays quiet) as alerts.test.yml expects', () => {
    assert.match(promtool('test', 'rules', 'alerts.test.yml'), /SUCCESS/);
  });

  it('check config: prometheus.yml (with its rule file) is valid', () => {
    assert.match(promtool('check', 'config', 'prometheus.yml'), /SUCCESS/);
  });

  it('check metrics: the agent exposition is clean and reports its spool', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qs-agent-metrics-'));
    try {
      const options = resolveAgentOptions(loadConfig(agentConfigSchema, 'QS_TEST_UNUSED', { flags: { watchDir: dir, stationId: 'promtool-station', display: false } }));
      const registry = createRegistry('agent');
      const agent = new Agent(options, { logger: silentLogger, registry });
      agent.emit('retry', { fileName: 'a.jpg', code: 'OVERLOADED', reason: 'busy', attempt: 1, delayMs: 10 });
      const text = await registry.metrics();
      assert.equal(promtoolCheckMetrics(text), '');
      assert.equal(sample(text, 'quicksilver_agent_spool_images'), 0);
      assert.equal(sample(text, 'quicksilver_agent_images_in_flight', { station: 'promtool-station' }), 0);
      assert.equal(sample(text, 'quicksilver_agent_retries_total', { station: 'promtool-station', code: 'OVERLOADED' }), 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('check metrics fails on a convention breach (the check can fail)', () => {
    assert.match(promtoolCheckMetrics('# HELP bad_total x\n# TYPE bad_total gauge\nbad_total 1\n'), /non-counter metrics should not have "_total" suffix/);
  });
});
