// The `quicksilver` command as a user runs it: help, config errors, readiness and graceful SIGTERM.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NatsServerProcess } from '../../common/src/nats-server-process.js';
import { cliEntry } from '../../common/src/paths.js';
import { referenceModelsDir, until } from '../helpers/cluster.js';

const run = (args: string[]) => spawnSync(process.execPath, [cliEntry(), ...args], { encoding: 'utf8', timeout: 30_000 });

describe('quicksilver CLI', { timeout: 120_000 }, () => {
  let dir: string;
  let nats: NatsServerProcess;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qs-cli-'));
    nats = new NatsServerProcess(join(dir, 'nats'));
    await nats.start();
  });
  after(async () => {
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists its commands, and every option of a process with its env variable', () => {
    const help = run(['--help']);
    assert.equal(help.status, 0);
    for (const command of ['coordinator', 'worker', 'agent', 'demo', 'synth', 'evaluate']) assert.match(help.stdout, new RegExp(`\\b${command}\\b`));
    const workerHelp = run(['worker', '--help']);
    assert.match(workerHelp.stdout, /--execution-providers <list>/);
    assert.match(workerHelp.stdout, /QS_WORKER_MAX_BATCH_SIZE/);
  });

  it('refuses a bad config value with a message naming the field and its source', () => {
    const result = run(['coordinator', '--metrics-port', '99999']);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /CONFIG_INVALID: invalid configuration: metricsPort \(from flag --metrics-port\)/);
    const env = spawnSync(process.execPath, [cliEntry(), 'worker'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, QS_WORKER_EXECUTION_PROVIDERS: 'tpu' } });
    assert.equal(env.status, 1);
    assert.match(env.stderr, /executionProviders \(from environment variable QS_WORKER_EXECUTION_PROVIDERS\)/);
  });

  it('a worker refuses to start when its only model fails the checksum guard', () => {
    const models = join(dir, 'tampered-models');
    cpSync(referenceModelsDir(), models, { recursive: true });
    const manifestPath = join(models, 'mercury-cnn', '1.0.0', 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    manifest.sha256 = '0'.repeat(64);
    writeFileSync(manifestPath, JSON.stringify(manifest));
    const result = run(['worker', '--models-dir', models, '--health-address', '127.0.0.1:0', '--metrics-port', '0', '--log-level', 'error']);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /MODEL_CHECKSUM_MISMATCH/);
  });

  it('the coordinator becomes ready, then drains and exits 0 on SIGTERM', async (t) => {
    const child = spawn(process.execPath, [cliEntry(), 'coordinator', '--grpc-address', '127.0.0.1:0', '--metrics-host', '127.0.0.1', '--metrics-port', '0',
      '--nats-servers', nats.url, '--outbox-dir', join(dir, 'outbox'), '--shutdown-grace-ms', '3000'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let logs = '';
    child.stderr!.on('data', (data: Buffer) => { logs += data.toString(); });
    t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
    await until(() => logs.includes('coordinator ready'), 30_000, 'coordinator ready');
    const metricsUrl = JSON.parse(logs.split('\n').find((line) => line.includes('metrics served'))!).url as string;
    const metrics = await (await fetch(metricsUrl)).text();
    assert.match(metrics, /quicksilver_coordinator_queue_depth\{priority="realtime"[^}]*\} 0/);
    assert.match(metrics, /# TYPE quicksilver_coordinator_end_to_end_duration_seconds histogram/);
    assert.equal((await fetch(metricsUrl.replace('/metrics', '/readyz'))).status, 200);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(logs, /shutting down/);
    assert.match(logs, /"msg":"stopped"/);
  });
});
