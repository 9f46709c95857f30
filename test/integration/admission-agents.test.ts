// Two real agents against a real coordinator and nats-server whose memory budget holds three images: a
// station sending 16 images at once beside a conveyor sending 4, both refused while no worker is there yet,
// then a real worker. The coordinator refuses what does not fit (OVERLOADED, counted by rule), the agents back
// off and resend, every image of both stations ends with exactly one verdict filed, and the busy station is
// held to its fair share while the conveyor waits.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { Agent, type VerdictEvent } from '../../agent/src/agent.js';
import { agentConfigSchema, resolveAgentOptions } from '../../agent/src/config.js';
import { loadConfig } from '../../common/src/config.js';
import { syntheticSheets } from '../../common/src/synth/index.js';
import { silentLogger, startCluster, until, type Cluster } from '../helpers/cluster.js';

const BUSY_IMAGES = 24;
const CONVEYOR_IMAGES = 6;

describe('admission with real agents: a busy station beside a conveyor', { timeout: 240_000 }, () => {
  let cluster: Cluster;
  const agents: Agent[] = [];
  const sheets: { fileName: string; bytes: Buffer }[] = [];

  before(async () => {
    for await (const sheet of syntheticSheets({ seed: 9100, count: BUSY_IMAGES + CONVEYOR_IMAGES, contaminatedFraction: 0.3, width: 900, height: 1200 })) {
      sheets.push({ fileName: sheet.fileName, bytes: sheet.bytes });
    }
    const largest = Math.max(...sheets.map((s) => s.bytes.length));
    // No worker yet: the first images wait in the coordinator, holding the budget, so refusals are certain.
    cluster = await startCluster({ workers: 0, coordinator: { maxBufferedBytes: 3 * largest, maxImageBytes: 2 * largest } });
  });
  after(async () => {
    for (const agent of agents) await agent.stop(AbortSignal.timeout(5000));
    await cluster?.stop();
  });

  const startAgent = async (station: string, maxInFlight: number, retryMs: number) => {
    const watchDir = join(cluster.dir, `hot-${station}`);
    mkdirSync(watchDir);
    const options = resolveAgentOptions(loadConfig(agentConfigSchema, 'QS_TEST_UNUSED', {
      flags: {
        coordinatorAddress: cluster.coordinatorAddress, watchDir, stationId: station, stabilityThresholdMs: 100, display: false,
        maxInFlight, retryBaseDelayMs: retryMs, retryMaxDelayMs: retryMs,
      },
    }));
    const agent = new Agent(options, { logger: silentLogger, registry: new Registry() });
    await agent.start();
    agents.push(agent);
    const verdicts: VerdictEvent[] = [];
    agent.on('verdict', (event) => verdicts.push(event));
    return { agent, watchDir, verdicts };
  };

  const metric = async (name: string, labels: Record<string, string>): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${cluster.coordinator.metricsServer.port}/metrics`)).text();
    return text.split('\n').filter((line) => line.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
  };

  it('classifies every image of both stations once, refusing what does not fit meanwhile', async () => {
    // The busy station resends within 50-200 ms of a refusal, the conveyor within 1-2 s: without fair shares
    // the busy one would take the room each finished image frees before the conveyor's resend comes.
    const busy = await startAgent('busy', 16, 200);
    const conveyor = await startAgent('conveyor', 4, 2000);
    const drop = (dir: string, sheet: { fileName: string; bytes: Buffer }) => {
      writeFileSync(join(dir, `${sheet.fileName}.part`), sheet.bytes);
      renameSync(join(dir, `${sheet.fileName}.part`), join(dir, sheet.fileName));
    };
    for (const sheet of sheets.slice(0, BUSY_IMAGES)) drop(busy.watchDir, sheet);
    // The conveyor's sheets come once the busy station has filled the budget; a worker once both were refused.
    await until(async () => await metric('quicksilver_coordinator_admission_refusals_total', { station: 'busy' }) > 0, 60_000, 'the busy station to be refused');
    for (const sheet of sheets.slice(BUSY_IMAGES)) drop(conveyor.watchDir, sheet);
    await until(async () => await metric('quicksilver_coordinator_admission_refusals_total', { station: 'conveyor' }) > 0, 60_000, 'the conveyor to be refused');
    await cluster.addWorker();

    await until(() => busy.verdicts.length >= BUSY_IMAGES && conveyor.verdicts.length >= CONVEYOR_IMAGES, 180_000,
      `every verdict (busy ${busy.verdicts.length}/${BUSY_IMAGES}, conveyor ${conveyor.verdicts.length}/${CONVEYOR_IMAGES})`);
    const once = (verdicts: VerdictEvent[]) => new Set(verdicts.map((v) => v.fileName)).size === verdicts.length;
    assert.equal(busy.verdicts.length, BUSY_IMAGES);
    assert.equal(conveyor.verdicts.length, CONVEYOR_IMAGES);
    assert.ok(once(busy.verdicts) && once(conveyor.verdicts), 'one verdict per image');
    for (const [station, count] of [['busy', BUSY_IMAGES], ['conveyor', CONVEYOR_IMAGES]] as const) {
      const done = readdirSync(join(cluster.dir, `hot-${station}`, 'done')).filter((name) => !name.endsWith('.verdict.json'));
      assert.equal(done.length, count, `${station}: every image filed in done/`);
    }
    const refusedBusy = await metric('quicksilver_coordinator_admission_refusals_total', { station: 'busy' });
    const shareRefusals = await metric('quicksilver_coordinator_admission_refusals_total', { station: 'busy', rule: 'station_share' });
    const refusedConveyor = await metric('quicksilver_coordinator_admission_refusals_total', { station: 'conveyor' });
    assert.ok(shareRefusals > 0, `the busy station was held to its share while the conveyor waited (refused ${refusedBusy} times, conveyor ${refusedConveyor})`);
    assert.equal(await metric('quicksilver_coordinator_rejections_total', { code: 'OVERLOADED' }), refusedBusy + refusedConveyor, 'every refusal is counted once, by rule');
  });
});
