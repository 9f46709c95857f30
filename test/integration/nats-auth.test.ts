// NATS with credentials: a nats-server that requires them (user/password, or a token over TLS with
// the dev CA) refuses a wrong or missing credential with a clear NATS_AUTH_FAILED, and a coordinator
// configured with the right ones publishes verdicts that an authenticated subscriber receives.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, type VerdictEvent as AgentVerdict } from '../../agent/src/agent.js';
import { agentConfigSchema, resolveAgentOptions } from '../../agent/src/config.js';
import { connectNats } from '../../common/src/adapters/nats-connect.js';
import { createRegistry } from '../../common/src/metrics.js';
import { CoordinatorConfigSchema } from '../../coordinator/src/config.js';
import { Coordinator } from '../../coordinator/src/coordinator.js';
import { loadConfig } from '../../common/src/config.js';
import { QuicksilverError } from '../../common/src/errors.js';
import { NatsServerProcess } from '../../common/src/nats-server-process.js';
import { cliEntry, repoRoot } from '../../common/src/paths.js';
import { renderSheet } from '../../common/src/synth/index.js';
import { VerdictEventSchema, type VerdictEvent } from '../../common/src/verdict-event.js';
import { silentLogger, startCluster, until, type Cluster } from '../helpers/cluster.js';

const PASSWORD = 'correct-horse-battery-staple';

describe('NATS with credentials', { timeout: 120_000 }, () => {
  let dir: string;
  let nats: NatsServerProcess;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qs-nats-auth-'));
    nats = new NatsServerProcess(join(dir, 'nats'), { auth: { user: 'quicksilver', password: PASSWORD } });
    await nats.start();
  });
  after(async () => {
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a wrong password and missing credentials with NATS_AUTH_FAILED naming what to check; the right ones connect', async () => {
    for (const settings of [{ natsUser: 'quicksilver', natsPassword: 'wrong-password' }, {}]) {
      await assert.rejects(connectNats({ ...settings, servers: [nats.url], name: 'test' }), (error: unknown) => {
        assert.ok(error instanceof QuicksilverError);
        assert.equal(error.code, 'NATS_AUTH_FAILED');
        assert.match(error.message, /refused the connection \(.*[Aa]uthorization [Vv]iolation.*\): check the configured/);
        assert.ok(!error.message.includes('wrong-password'), 'the password is not echoed');
        return true;
      });
    }
    const connection = await connectNats({ natsUser: 'quicksilver', natsPassword: PASSWORD, servers: [nats.url], name: 'test' });
    assert.equal(connection.isClosed(), false);
    await connection.close();
  });

  it('a coordinator with a wrong NATS password refuses to start with NATS_AUTH_FAILED; with the right one it starts', async () => {
    const config = (natsPassword: string) => loadConfig(CoordinatorConfigSchema, 'QS_TEST_UNUSED', {
      flags: { grpcAddress: '127.0.0.1:0', metricsHost: '127.0.0.1', metricsPort: 0, natsServers: [nats.url], natsUser: 'quicksilver', natsPassword, outboxDir: join(dir, `outbox-${natsPassword}`) },
    });
    const refused = new Coordinator(config('wrong-password'), silentLogger, createRegistry('coordinator'));
    await assert.rejects(refused.start(), (error: unknown) => error instanceof QuicksilverError && error.code === 'NATS_AUTH_FAILED' && /user 'quicksilver' and password/.test(error.message));
    await refused.stop(AbortSignal.timeout(2000));
    const accepted = new Coordinator(config(PASSWORD), silentLogger, createRegistry('coordinator'));
    await accepted.start();
    await accepted.stop(AbortSignal.timeout(5000));
  });

  it('the rescan CLI uses the NATS credentials from its environment: refused with the wrong password, served with the right one', () => {
    const rescanList = (password: string) => spawnSync(process.execPath, [cliEntry(), 'rescan', 'list', '--nats-servers', nats.url, '--nats-user', 'quicksilver'], {
      encoding: 'utf8', timeout: 60_000, env: { ...process.env, QS_RESCAN_NATS_PASSWORD: password },
    });
    const refused = rescanList('wrong-password');
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /password/i);
    assert.ok(!refused.stderr.includes('wrong-password'), 'the password is not echoed');
    const served = rescanList(PASSWORD);
    assert.equal(served.status, 0, served.stderr);
  });
});

describe('coordinator publishing to a NATS that requires a token over TLS', { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let certs: string;
  let agent: Agent;
  const TOKEN = 'nats-token-for-the-verdict-stream-0001';

  before(async () => {
    certs = mkdtempSync(join(tmpdir(), 'qs-nats-tls-'));
    execFileSync('bash', [join(repoRoot(), 'scripts', 'dev-certs.sh'), '--out', certs], { stdio: 'pipe' });
    const natsTls = { natsTlsCaFile: join(certs, 'ca.crt'), natsToken: TOKEN };
    cluster = await startCluster({
      workers: 1,
      nats: { auth: { token: TOKEN }, tls: { certFile: join(certs, 'coordinator.crt'), keyFile: join(certs, 'coordinator.key') } },
      coordinator: natsTls,
    });
  });
  after(async () => {
    await agent?.stop(AbortSignal.timeout(2000));
    await cluster?.stop();
    rmSync(certs, { recursive: true, force: true });
  });

  it('a verdict reaches an authenticated subscriber; a client without the token is refused', async () => {
    await assert.rejects(connectNats({ natsTlsCaFile: join(certs, 'ca.crt'), servers: [cluster.nats.url], name: 'intruder' }),
      (error: QuicksilverError) => error.code === 'NATS_AUTH_FAILED');
    const subscriber = await connectNats({ natsTlsCaFile: join(certs, 'ca.crt'), natsToken: TOKEN, servers: [cluster.nats.url], name: 'test-subscriber' });
    const events: VerdictEvent[] = [];
    const subscription = subscriber.subscribe('quicksilver.verdict.>');
    void (async () => {
      for await (const message of subscription) events.push(VerdictEventSchema.parse(message.json()));
    })();
    const watchDir = join(cluster.dir, 'hot');
    mkdirSync(watchDir);
    const config = loadConfig(agentConfigSchema, 'QS_TEST_UNUSED', {
      flags: { coordinatorAddress: cluster.coordinatorAddress, watchDir, stationId: 'nats-auth-station', stabilityThresholdMs: 200, display: false },
    });
    agent = new Agent(resolveAgentOptions(config), { logger: silentLogger });
    const verdicts: AgentVerdict[] = [];
    agent.on('verdict', (event) => verdicts.push(event));
    await agent.start();
    const { bytes } = await renderSheet({ seed: 7301, contaminated: true, width: 600, height: 800 });
    writeFileSync(join(watchDir, 'QS00073010.jpg'), bytes);
    await until(() => verdicts.length === 1 && events.length === 1, 60_000, 'the verdict at the agent and on authenticated NATS');
    assert.equal(events[0]!.idempotencyKey, verdicts[0]!.verdict.idempotencyKey);
    await subscriber.close();
  });
});
