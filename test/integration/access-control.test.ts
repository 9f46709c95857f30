// Access control with real TLS over loopback: a coordinator with TLS, mutual TLS and a token file
// (certificates and tokens made by scripts/dev-certs.sh), one worker authenticated by token and one
// by client certificate. Refused: no credentials, a wrong token, another station's token, a worker's
// token used by a station, a client certificate from an untrusted CA, a worker with a wrong token;
// a server certificate the agent does not trust fails on the client with TLS_HANDSHAKE_FAILED, and a
// worker's or station's certificate does not pass for the coordinator (only for the worker's own name).
// Accepted: a station by token and a station by certificate, end to end to a verdict. Every refusal
// is counted by reason and logged, and no token ever appears in the logs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Agent, type VerdictEvent as AgentVerdict } from '../../agent/src/agent.js';
import { InspectionClient } from '../../agent/src/adapters/inspection-client.js';
import { agentConfigSchema, resolveAgentOptions } from '../../agent/src/config.js';
import { channelOptions, feedbackProto, grpc } from '../../common/src/adapters/grpc-services.js';
import { loadConfig } from '../../common/src/config.js';
import type { QuicksilverError } from '../../common/src/errors.js';
import { REDACTED_KEYS } from '../../common/src/logger.js';
import { createRegistry } from '../../common/src/metrics.js';
import { repoRoot } from '../../common/src/paths.js';
import type { ClientSecuritySettings } from '../../common/src/security-config.js';
import { renderSheet } from '../../common/src/synth/index.js';
import { WorkerConfigSchema } from '../../gpu-worker/src/config.js';
import { Worker } from '../../gpu-worker/src/worker.js';
import { referenceModelsDir, silentLogger, startCluster, until, type Cluster } from '../helpers/cluster.js';

const devCerts = (out: string, stations: string, workers: string, ...more: string[]) =>
  execFileSync('bash', [join(repoRoot(), 'scripts', 'dev-certs.sh'), '--out', out, '--stations', stations, '--workers', workers, ...more], { stdio: 'pipe' });

/** Serves TLS with `dir/name.crt` and returns true if a client trusting `dir/ca.crt` accepts it for `host`, else the error. */
async function acceptedAs(dir: string, name: string, host: string): Promise<true | string> {
  const server = tls.createServer({ cert: readFileSync(join(dir, `${name}.crt`)), key: readFileSync(join(dir, `${name}.key`)) }, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await new Promise<true | string>((resolve) => {
      // As grpc-js checks a target name: the chain (CA, server purpose) by OpenSSL, the name against `host`.
      const socket = tls.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: readFileSync(join(dir, 'ca.crt')), checkServerIdentity: (_h, cert) => tls.checkServerIdentity(host, cert) },
        () => { socket.destroy(); resolve(true); });
      socket.on('error', (error) => resolve(error.message));
    });
  } finally {
    server.close();
  }
}

/** Every log line of the coordinator and workers, to check what is (and is not) logged. */
const logLines: string[] = [];
const capturingLogger = pino({ level: process.env.QS_DEBUG ? "debug" : "info", redact: { paths: REDACTED_KEYS.flatMap((k) => [k, `*.${k}`]), censor: '[redacted]' } },
  new Writable({ write(chunk, _encoding, done) { logLines.push(String(chunk)); done(); } }));

describe('access control: TLS, mutual TLS and tokens on the gRPC links', { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let certs: string;
  let rogue: string;
  let coordinatorAddress: string;
  let certWorker: Worker;
  const CURATOR_TOKEN = 'curator-one-token-for-feedback-0001';
  const tokens = () => JSON.parse(readFileSync(join(certs, 'tokens.json'), 'utf8')) as { stations: Record<string, string>; workers: Record<string, string> };

  const noSecurity: ClientSecuritySettings = { tlsCaFile: '', tlsCertFile: '', tlsKeyFile: '', tlsServerName: '', authTokenFile: '' };
  const station = (overrides: Partial<ClientSecuritySettings>): ClientSecuritySettings => ({ ...noSecurity, tlsCaFile: join(certs, 'ca.crt'), ...overrides });

  async function authFailures(reason: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${cluster.coordinator.metricsServer.port}/metrics`)).text();
    const match = new RegExp(`^quicksilver_coordinator_auth_failures_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)`, 'm').exec(text);
    return match ? Number(match[1]) : 0;
  }

  /** Opens an Inspect stream with `security`, optionally sends a header, and returns how the stream ended. */
  async function streamOutcome(security: ClientSecuritySettings, header?: { stationId: string }): Promise<QuicksilverError> {
    const client = new InspectionClient(coordinatorAddress, { ...security, reconnectBaseDelayMs: 100, reconnectMaxDelayMs: 500, logger: silentLogger });
    try {
      return await new Promise<QuicksilverError>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the stream was neither refused nor closed within 10 s')), 10_000);
        const session = client.openSession({ onResponse: () => {}, onClosed: (error) => { clearTimeout(timer); resolve(error); } });
        if (header) {
          void session.send({
            header: {
              idempotencyKey: `${header.stationId}:${'ab'.repeat(32)}`, stationId: header.stationId, barcode: 'QS1', captureTime: new Date().toISOString(),
              contentType: 'image/jpeg', sizeBytes: 10, sha256: 'ab'.repeat(32), fileName: 'QS1.jpg', modelName: '', priority: 'PRIORITY_REALTIME',
            },
          }).catch(() => {});
        }
      });
    } finally {
      client.close();
    }
  }

  before(async () => {
    const dir = join(await import('node:os').then((os) => os.tmpdir()), `qs-access-${process.pid}-${Date.now()}`);
    certs = join(dir, 'certs');
    rogue = join(dir, 'rogue');
    devCerts(certs, 's1,s2', 'test-worker-1,test-worker-2');
    devCerts(rogue, 's1', 'test-worker-1'); // same names, another CA: nothing from here may be trusted
    writeFileSync(join(certs, 'tokens.json'), JSON.stringify({ ...tokens(), curators: { 'curator-1': CURATOR_TOKEN } }));
    cluster = await startCluster({
      workers: 0,
      logger: capturingLogger,
      coordinator: {
        tlsCertFile: join(certs, 'coordinator.crt'), tlsKeyFile: join(certs, 'coordinator.key'),
        tlsClientCaFile: join(certs, 'ca.crt'), authTokensFile: join(certs, 'tokens.json'),
      },
      worker: { tlsCaFile: join(certs, 'ca.crt') },
    });
    coordinatorAddress = cluster.coordinatorAddress;
    // One worker proves itself with its token, the other with its client certificate.
    await cluster.addWorker({ workerId: 'test-worker-1', authTokenFile: join(certs, 'worker-test-worker-1.token') });
    certWorker = await cluster.addWorker({ workerId: 'test-worker-2', tlsCertFile: join(certs, 'worker-test-worker-2.crt'), tlsKeyFile: join(certs, 'worker-test-worker-2.key') });
  });

  after(async () => {
    await cluster?.stop();
  });

  it('feedback needs a curator credential: none is UNAUTHENTICATED, a station token PERMISSION_DENIED, a curator token reaches the feedback check', async () => {
    const client = new feedbackProto.Feedback(coordinatorAddress, grpc.credentials.createSsl(readFileSync(join(certs, 'ca.crt'))), channelOptions);
    const submit = (token?: string, curator = '') => new Promise<number>((resolve) => {
      const metadata = new grpc.Metadata();
      if (token) metadata.set('authorization', `Bearer ${token}`);
      client.Submit({ idempotencyKey: `s1:${'cd'.repeat(32)}`, contaminated: true, curator, method: 'xrf' }, metadata, (error) => resolve(error?.code ?? grpc.status.OK));
    });
    try {
      assert.equal(await submit(), grpc.status.UNAUTHENTICATED);
      assert.equal(await submit(tokens().stations.s1), grpc.status.PERMISSION_DENIED);
      assert.equal(await submit(CURATOR_TOKEN, 'another-curator'), grpc.status.PERMISSION_DENIED, 'a curator may not sign as another');
      assert.equal(await submit(CURATOR_TOKEN), grpc.status.NOT_FOUND, 'authenticated: refused only because no such verdict exists');
    } finally {
      client.close();
    }
  });

  it('refuses an agent without credentials: UNAUTHENTICATED, counted and logged', async () => {
    const before = await authFailures('missing_credentials');
    const outcome = await streamOutcome(station({}));
    assert.equal(outcome.code, 'UNAUTHENTICATED');
    assert.match(outcome.message, /no credentials/);
    assert.equal(await authFailures('missing_credentials'), before + 1);
    assert.ok(logLines.some((line) => line.includes('call refused by access control') && line.includes('missing_credentials')), 'refusal logged');
  });

  it('refuses a wrong token, a token of another station, and a worker token used by a station', async () => {
    const wrong = join(certs, 'wrong.token');
    writeFileSync(wrong, 'not-the-right-token-at-all-0123456789\n');
    const invalidBefore = await authFailures('invalid_token');
    const wrongToken = await streamOutcome(station({ authTokenFile: wrong }));
    assert.equal(wrongToken.code, 'UNAUTHENTICATED');
    assert.match(wrongToken.message, /bearer token is not valid/);
    assert.equal(await authFailures('invalid_token'), invalidBefore + 1);

    const mismatchBefore = await authFailures('identity_mismatch');
    const otherStation = await streamOutcome(station({ authTokenFile: join(certs, 'station-s2.token') }), { stationId: 's1' });
    assert.equal(otherStation.code, 'PERMISSION_DENIED');
    assert.match(otherStation.message, /station 's2' may not act as station 's1'/);
    assert.equal(await authFailures('identity_mismatch'), mismatchBefore + 1);

    const roleBefore = await authFailures('wrong_role');
    const workerAsStation = await streamOutcome(station({ authTokenFile: join(certs, 'worker-test-worker-1.token') }));
    assert.equal(workerAsStation.code, 'PERMISSION_DENIED');
    assert.match(workerAsStation.message, /worker credential \(test-worker-1\) cannot be used as a station/);
    assert.equal(await authFailures('wrong_role'), roleBefore + 1);
  });

  it('refuses a client certificate signed by an untrusted CA', async () => {
    const before = await authFailures('missing_credentials');
    const outcome = await streamOutcome(station({ tlsCertFile: join(rogue, 'station-s1.crt'), tlsKeyFile: join(rogue, 'station-s1.key') }), { stationId: 's1' });
    assert.equal(outcome.code, 'UNAUTHENTICATED');
    assert.match(outcome.message, /no credentials/);
    assert.equal(await authFailures('missing_credentials'), before + 1);
  });

  it('an agent that does not trust the server certificate fails on its side with TLS_HANDSHAKE_FAILED', async () => {
    const outcome = await streamOutcome(station({ tlsCaFile: join(rogue, 'ca.crt'), authTokenFile: join(certs, 'station-s1.token') }));
    assert.equal(outcome.code, 'TLS_HANDSHAKE_FAILED');
    assert.match(outcome.message, /TLS handshake with the server failed: .*certificate/i);
  });

  it('a worker or station certificate does not pass for the coordinator; a worker certificate passes for its own name only', async () => {
    const dir = join(cluster.dir, 'names');
    devCerts(dir, 's1', 'w1', '--host', 'qs.example.org', '--host', '10.1.2.3');
    for (const host of ['localhost', '127.0.0.1', '::1', 'qs.example.org', '10.1.2.3']) {
      assert.equal(await acceptedAs(dir, 'coordinator', host), true, `the coordinator certificate is valid for ${host}`);
      for (const client of ['worker-w1', 'station-s1']) {
        assert.notEqual(await acceptedAs(dir, client, host), true, `${client}.crt must not pass for the coordinator at ${host}`);
      }
    }
    assert.equal(await acceptedAs(dir, 'worker-w1', 'w1'), true, 'the worker certificate serves its health service under its own name');
    assert.match(String(await acceptedAs(dir, 'station-s1', 's1')), /(unsupported|unsuitable) certificate purpose/, 'a station certificate is no server certificate');
    assert.throws(() => devCerts(join(cluster.dir, 'clash'), 's1', 'qs.example.org', '--host', 'QS.example.org'), /also a coordinator name/);

    // An agent dialing a worker's TLS health port (worker certificate) as if it were the coordinator.
    const posing = `127.0.0.1:${certWorker.health.port}`;
    const asCoordinator = async (tlsServerName: string) => {
      const client = new InspectionClient(posing, { ...station({ tlsServerName, authTokenFile: join(certs, 'station-s1.token') }), reconnectBaseDelayMs: 100, reconnectMaxDelayMs: 500, logger: silentLogger });
      try {
        return await new Promise<QuicksilverError>((resolve) => client.openSession({ onResponse: () => {}, onClosed: resolve }));
      } finally {
        client.close();
      }
    };
    for (const name of ['', 'localhost']) assert.equal((await asCoordinator(name)).code, 'TLS_HANDSHAKE_FAILED', `worker certificate refused as '${name || '127.0.0.1'}'`);
    assert.notEqual((await asCoordinator('test-worker-2')).code, 'TLS_HANDSHAKE_FAILED', 'under its own name the handshake succeeds (no Inspection service there)');
  });

  it('a plaintext agent cannot talk to the TLS coordinator', async () => {
    const outcome = await streamOutcome({ ...noSecurity, authTokenFile: join(certs, 'station-s1.token') });
    assert.equal(outcome.code, 'UNAVAILABLE');
  });

  it('refuses a worker with a wrong token: it never registers and the refusal is counted', async () => {
    const wrong = join(certs, 'wrong-worker.token');
    writeFileSync(wrong, tokens().stations.s1!);
    const before = await authFailures('wrong_role');
    const config = loadConfig(WorkerConfigSchema, 'QS_TEST_UNUSED', {
      flags: {
        coordinatorAddress, workerId: 'test-worker-9', modelsDir: referenceModelsDir(), healthAddress: '127.0.0.1:0', metricsHost: '127.0.0.1', metricsPort: 0,
        decodeConcurrency: 1, intraOpThreads: 1, executionProviders: ['cpu'], tlsCaFile: join(certs, 'ca.crt'), authTokenFile: wrong, reconnectMaxDelayMs: 500,
      },
    });
    const worker = new Worker(config, silentLogger, createRegistry('gpu-worker'));
    await worker.start();
    try {
      await until(async () => (await authFailures('wrong_role')) > before, 15_000, 'the worker refusal to be counted');
      assert.ok(!cluster.coordinator.dispatcher.connectedWorkers.some((w) => w.id === 'test-worker-9'), 'the refused worker is not registered');
    } finally {
      await worker.stop(AbortSignal.timeout(2000));
    }
  });

  it('serves stations that authenticate by token and by client certificate, end to end, and never logs a token', async () => {
    const verdicts: AgentVerdict[] = [];
    const agents: Agent[] = [];
    const cases = [
      { stationId: 's1', security: station({ authTokenFile: join(certs, 'station-s1.token') }) },
      { stationId: 's2', security: station({ tlsCertFile: join(certs, 'station-s2.crt'), tlsKeyFile: join(certs, 'station-s2.key') }) },
    ];
    try {
      for (const [i, { stationId, security }] of cases.entries()) {
        const watchDir = join(cluster.dir, `hot-${stationId}`);
        mkdirSync(watchDir);
        const config = loadConfig(agentConfigSchema, 'QS_TEST_UNUSED', {
          flags: { coordinatorAddress, watchDir, stationId, stabilityThresholdMs: 200, display: false, ...security },
        });
        const agent = new Agent(resolveAgentOptions(config), { logger: silentLogger });
        agent.on('verdict', (event) => verdicts.push(event));
        await agent.start();
        agents.push(agent);
        const { bytes } = await renderSheet({ seed: 6100 + i, contaminated: i === 0, width: 600, height: 800 });
        writeFileSync(join(watchDir, `QS0000610${i}.jpg`), bytes);
      }
      await until(() => verdicts.length >= 2, 60_000, 'a verdict for each authenticated station');
      assert.deepEqual(verdicts.map((v) => v.verdict.stationId).sort(), ['s1', 's2']);
      assert.deepEqual(new Set(verdicts.map((v) => v.verdict.workerId)).size >= 1, true);
    } finally {
      for (const agent of agents) await agent.stop(AbortSignal.timeout(2000));
    }
    const all = logLines.join('');
    for (const secret of [...Object.values(tokens().stations), ...Object.values(tokens().workers)]) {
      assert.ok(!all.includes(secret), 'no token appears in any log line');
    }
    assert.ok(all.includes('coordinator: callers must authenticate'), 'the coordinator logged its access-control mode');
  });
});
