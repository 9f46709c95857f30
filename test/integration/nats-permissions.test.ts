// The shipped per-role NATS permissions (common/src/nats-permissions.ts, the users of deploy/*/nats.conf)
// on a real nats-server: a coordinator process, a worker process and `quicksilver rescan` each as its
// own user run a re-scan job end to end; the coordinator's verdict publisher and its feedback answers,
// a reader and a curator work; the server logs no permission violation. Then what each restricted user
// must not do is refused: forged verdicts, stream deletes/purges, job writes, consumer deletes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from 'nats';
import { connectNats } from '../../common/src/adapters/nats-connect.js';
import { NatsVerdictSubscriber } from '../../common/src/adapters/nats-verdict-subscriber.js';
import { feedbackSubject, type FeedbackReply } from '../../common/src/feedback.js';
import { NATS_ROLE_NAMES, NATS_ROLES, natsPasswordVariable, type NatsRole } from '../../common/src/nats-permissions.js';
import { NatsServerProcess, type NatsServerSecurity } from '../../common/src/nats-server-process.js';
import { repoRoot } from '../../common/src/paths.js';
import { RescanJetStream } from '../../common/src/rescan/adapters/jetstream-rescan.js';
import { RESCAN_JOBS_BUCKET, RESCAN_RESULTS_STREAM, RESCAN_WORK_STREAM, workConsumerName } from '../../common/src/rescan/records.js';
import { VERDICT_STREAM, verdictSubject, type VerdictEvent } from '../../common/src/verdict-event.js';
import { NatsVerdictPublisher } from '../../coordinator/src/adapters/nats-verdict-publisher.js';
import { silentLogger, until } from '../helpers/cluster.js';
import { collectResults, startRescanFixture, writeManifest, type RescanFixture } from '../helpers/rescan-fixture.js';

// nats-server parses a $VARIABLE's value as a config value: a letter first keeps a hex password a string (docs/deploy.md).
const passwords = Object.fromEntries(NATS_ROLE_NAMES.map((role) => [role, `p${randomBytes(12).toString('hex')}`])) as Record<NatsRole, string>;
const security: NatsServerSecurity = { users: NATS_ROLE_NAMES.map((role) => ({ user: role, password: passwords[role], permissions: NATS_ROLES[role] })) };
const login = (role: NatsRole) => ({ user: role, password: passwords[role] });
const settings = (role: NatsRole) => ({ natsUser: role, natsPassword: passwords[role] });
const REFUSED = /Permissions Violation for Publish/;

function verdict(key: string): VerdictEvent {
  return {
    schema: 'quicksilver.verdict.v1', idempotencyKey: key, stationId: 'perm-station', barcode: `B-${key}`, fileName: `${key}.jpg`,
    sha256: 'a'.repeat(64), captureTime: new Date().toISOString(), label: 'contaminated', flagged: true, score: 0.9, threshold: 0.5,
    model: { name: 'tiny-cnn', version: '1.0.0' }, worker: { id: 'worker-1', executionProvider: 'cpu' },
    timingsMs: { upload: 1, queue: 1, transfer: 1, decode: 1, inference: 1, total: 5 }, decidedAt: new Date().toISOString(),
  };
}

describe('per-role NATS permissions', { timeout: 300_000 }, () => {
  let fixture: RescanFixture;
  // A refused call can make nats.js retry quietly (an ordered consumer): fail with the server's violations instead of hanging.
  const within = <T>(what: string, promise: Promise<T>, ms = 30_000) => Promise.race([promise, new Promise<never>((_, reject) => setTimeout(
    () => reject(new Error(`${what}: no answer within ${ms} ms; violations: ${fixture.nats.violations.join('\n')}`)), ms).unref())]);
  const connections: NatsConnection[] = [];
  const connectAs = async (role: NatsRole) => {
    const connection = await connectNats({ ...settings(role), servers: [fixture.nats.url], name: `test-${role}` });
    connections.push(connection);
    return connection;
  };

  before(async () => {
    fixture = await startRescanFixture({
      workers: 1,
      nats: { security, credentials: { coordinator: login('coordinator'), worker: login('worker'), cli: login('rescan'), store: login('rescan') } },
    });
  });
  after(async () => {
    for (const connection of connections) await connection.close().catch(() => {});
    await fixture?.stop();
  });

  it('each process as its own user: a re-scan job, verdicts, feedback and readers work without one violation', async () => {
    // Re-scan: the CLI submits, the worker pulls, publishes and acks, the coordinator's monitor completes the job.
    const manifest = join(fixture.dir, 'manifest.csv');
    await writeManifest(manifest, fixture.archive, 6, new Map([[3, 'QS-BAD,relative.jpg,Quercus\n']]));
    const submitted = await within('submit', fixture.cli(['submit', '--manifest', manifest, '--job-id', 'perm', '--model', 'tiny-cnn', '--wait']), 60_000);
    assert.equal(submitted.code, 0, submitted.stderr);
    const results = await within('results', collectResults(fixture.store, 'perm'));
    assert.equal(results.size, 6);
    assert.equal([...results.values()].filter((r) => r.kind === 'verdict' && r.workerId === 'worker-1').length, 5, 'the worker published the valid rows');
    await until(async () => (await fixture.store.requireJob('perm')).state === 'completed', 20_000, 'the coordinator marked the job completed');
    const listed = await within('list', fixture.cli(['list', '--json']));
    assert.equal(listed.code, 0, listed.stderr);
    const exported = await within('export', fixture.cli(['export', 'perm', '--format', 'jsonl', '--out', join(fixture.dir, 'perm.jsonl')]));
    assert.equal(exported.code, 0, exported.stderr);

    // A worker's check on a redelivered row (STREAM.MSG.GET on the results).
    const workerStore = await RescanJetStream.connect([fixture.nats.url], 'test-worker', undefined, settings('worker'));
    assert.equal(await within('hasResult', workerStore.hasResult('perm', 2)), true);
    await workerStore.close();
    // Steering a job no worker serves: status, pause, resume, cancel (purges its rows, deletes its consumer).
    const steered = await within('submit', fixture.cli(['submit', '--manifest', manifest, '--job-id', 'steer', '--model', 'no-such-model']));
    assert.equal(steered.code, 0, steered.stderr);
    for (const command of ['status', 'pause', 'resume', 'cancel']) {
      const run = await within(command, fixture.cli([command, 'steer']));
      assert.equal(run.code, 0, `${command}: ${run.stderr}`);
    }
    assert.equal((await fixture.store.requireJob('steer')).state, 'cancelled');

    // Verdicts: the coordinator's publisher (stream create/update, publish); a reader sees them live and in the stream.
    const reader = new NatsVerdictSubscriber([fixture.nats.url], settings('reader'));
    const seen: VerdictEvent[] = [];
    await reader.start((event) => seen.push(event));
    const publisher = new NatsVerdictPublisher({
      servers: [fixture.nats.url], security: settings('coordinator'), maxAgeDays: 1, duplicateWindowSeconds: 60, publishTimeoutMs: 5000, logger: silentLogger,
    });
    await publisher.start();
    await until(() => publisher.available, 10_000, 'verdict stream ready');
    await publisher.publish(verdict('perm-1'));
    await until(() => seen.length === 1, 10_000, 'the reader received the verdict');
    assert.deepEqual((await within('readStream', reader.readStream())).map((m) => m.msgId), ['perm-1']);
    await publisher.stop();
    await reader.stop();

    // Feedback: a restarted coordinator warms its index from the stream (a consumer) and answers a curator.
    const old = fixture.coordinator.child;
    const exited = once(old, 'exit');
    old.kill('SIGTERM');
    await exited;
    await within('coordinator restart', fixture.startCoordinator(), 90_000);
    const curator = await connectAs('curator');
    const payload = new TextEncoder().encode(JSON.stringify({ schema: 'quicksilver.feedback.v1', idempotencyKey: 'perm-1', contaminated: true, curator: 'test' }));
    const reply = (await curator.request(feedbackSubject('perm-station'), payload, { timeout: 10_000 })).json<FeedbackReply>();
    assert.deepEqual(reply, { accepted: true, outcome: 'tp', modelVersion: 'tiny-cnn@1.0.0', stationId: 'perm-station', idempotencyKey: 'perm-1' });

    assert.deepEqual(fixture.nats.violations, [], 'no call of any role was refused');
  });

  it('refuses forged verdicts, stream and consumer changes and job writes to the users that must not make them', async () => {
    const worker = await connectAs('worker');
    const workerJs = worker.jetstream();
    const workerJsm = await worker.jetstreamManager();
    const refused = async (what: string, call: () => Promise<unknown>) => {
      await assert.rejects(Promise.race([call(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 5000))]),
        (error: Error) => { assert.match(error.message, REFUSED, what); return true; });
    };
    const forged = new TextEncoder().encode(JSON.stringify(verdict('forged')));
    await refused('worker publishes a verdict', () => workerJs.publish(verdictSubject('perm-station', 'clean'), forged));
    for (const stream of [VERDICT_STREAM, RESCAN_WORK_STREAM, RESCAN_RESULTS_STREAM, `KV_${RESCAN_JOBS_BUCKET}`]) {
      await refused(`worker deletes ${stream}`, () => workerJsm.streams.delete(stream));
      await refused(`worker purges ${stream}`, () => workerJsm.streams.purge(stream));
    }
    await refused('worker updates the verdict stream', () => workerJsm.streams.update(VERDICT_STREAM, { subjects: ['quicksilver.verdict.>', 'x.>'] }));
    await refused('worker creates a stream', () => workerJsm.streams.add({ name: 'WORKER_OWN', subjects: ['worker.own.>'] }));
    await refused('worker deletes a work message', () => workerJsm.streams.deleteMessage(RESCAN_WORK_STREAM, 1));
    await refused('worker deletes a job\'s consumer', () => workerJsm.consumers.delete(RESCAN_WORK_STREAM, workConsumerName('perm')));
    const jobs = await workerJs.views.kv(RESCAN_JOBS_BUCKET); // reading is allowed
    assert.ok(await jobs.get('perm'));
    await refused('worker writes a job', () => jobs.put('perm', new TextEncoder().encode('{}')));
    await refused('worker deletes a job', () => jobs.delete('perm'));

    for (const role of ['reader', 'curator', 'rescan'] as const) {
      const connection = await connectAs(role);
      await refused(`${role} publishes a verdict`, () => connection.jetstream().publish(verdictSubject('perm-station', 'clean'), forged));
      await refused(`${role} deletes the verdict stream`, async () => (await connection.jetstreamManager()).streams.delete(VERDICT_STREAM));
    }

    // Nothing changed: one verdict, the job's record and results intact.
    const coordinator = await connectAs('coordinator');
    const jsm = await coordinator.jetstreamManager();
    assert.equal((await jsm.streams.info(VERDICT_STREAM)).state.messages, 1);
    assert.equal((await fixture.store.requireJob('perm')).state, 'completed');
    assert.equal((await within('results', collectResults(fixture.store, 'perm'))).size, 6);
    assert.ok(fixture.nats.violations.some((line) => line.includes('User "worker"') && line.includes('quicksilver.verdict.perm-station.clean')), fixture.nats.violations.join('\n'));
  });

  it('a worker does not create missing re-scan streams: it fails naming what to start first', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qs-nats-perm-'));
    const empty = new NatsServerProcess(join(dir, 'nats'), security);
    try {
      await empty.start();
      await assert.rejects(RescanJetStream.connect([empty.url], 'test-worker', undefined, settings('worker')), (error: Error) => {
        assert.match(error.message, /QUICKSILVER_RESCAN_WORK does not exist and this NATS user may not create it: start the coordinator/);
        return true;
      });
      const store = await RescanJetStream.connect([empty.url], 'test-coordinator', undefined, settings('coordinator'));
      await store.close();
      const workerStore = await RescanJetStream.connect([empty.url], 'test-worker', undefined, settings('worker'));
      assert.deepEqual(await workerStore.listJobs(), []);
      await workerStore.close();
    } finally {
      await empty.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the shipped nats.conf files load, take each role\'s password from its variable and refuse a worker\'s verdict', async () => {
    for (const file of ['deploy/docker/nats.conf', 'deploy/k8s/config/nats.conf']) {
      const dir = mkdtempSync(join(tmpdir(), 'qs-nats-conf-'));
      // The flags give address, port and store (store_dir may not be set twice); no monitoring port (parallel runs).
      const text = readFileSync(join(repoRoot(), file), 'utf8').replace(/^\s*(http_port|store_dir):.*$/gm, '');
      const env = { POD_NAME: 'nats-0', ...Object.fromEntries(NATS_ROLE_NAMES.map((role) => [natsPasswordVariable(role), passwords[role]])) };
      const shipped = new NatsServerProcess(join(dir, 'nats'), { config: { text, env } });
      try {
        await shipped.start();
        for (const role of NATS_ROLE_NAMES) {
          const connection = await connectNats({ ...settings(role), servers: [shipped.url], name: `conf-${role}` });
          await connection.close();
        }
        await assert.rejects(connectNats({ natsUser: 'worker', natsPassword: passwords.coordinator, servers: [shipped.url], name: 'conf-wrong' }));
        const worker = await connectNats({ ...settings('worker'), servers: [shipped.url], name: 'conf-worker' });
        await assert.rejects(worker.request(verdictSubject('perm-station', 'clean'), new Uint8Array(), { timeout: 5000 }), REFUSED);
        await worker.close();
      } finally {
        await shipped.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});
