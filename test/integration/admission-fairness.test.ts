// Admission control over real gRPC against a real coordinator, worker and nats-server: the memory budget
// (maxBufferedBytes) is shared fairly. Uploads whose header came but no bytes yet hold their declared size,
// which lets a station hold a known part of the budget: a station alone may fill it, but once another
// station is refused, the first gets no more than its fair share until the refused one got in; and bulk
// images never take the conveyor's reserve.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { InspectionClient } from '../../agent/src/adapters/inspection-client.js';
import type { InspectionSession } from '../../agent/src/adapters/inspection-session.js';
import type { ImageHeader__Output as ImageHeader } from '../../common/src/generated/quicksilver/v1/ImageHeader.js';
import type { InspectResponse__Output } from '../../common/src/generated/quicksilver/v1/InspectResponse.js';
import { renderSheet } from '../../common/src/synth/index.js';
import { silentLogger, startCluster, until, type Cluster } from '../helpers/cluster.js';

const IMAGES_IN_BUDGET = 8;
const noSecurity = { tlsCaFile: '', tlsCertFile: '', tlsKeyFile: '', tlsServerName: '', authTokenFile: '' };
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('admission: fair shares of the coordinator\'s memory budget', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let client: InspectionClient;
  let image: Buffer;
  let counter = 0;
  const answers = new Map<string, InspectResponse__Output>();
  const accepted = new Set<string>();

  const openSession = (): InspectionSession => client.openSession({
    onResponse: (response) => {
      if (response.accepted) accepted.add(response.accepted.idempotencyKey);
      const answer = response.verdict ?? response.rejection;
      if (answer) answers.set(answer.idempotencyKey, response);
    },
    onClosed: () => {},
  });
  const headerFor = (station: string, priority: 'PRIORITY_REALTIME' | 'PRIORITY_BULK' = 'PRIORITY_REALTIME'): ImageHeader => {
    const n = ++counter;
    return {
      idempotencyKey: `${station}:${n}`, stationId: station, barcode: `QS${n}`, captureTime: new Date().toISOString(), contentType: 'image/jpeg',
      sizeBytes: image.length, sha256: sha256(image), fileName: `QS${n}.jpg`, modelName: '', priority, imageUri: '',
    };
  };
  /** Sends a header only: accepted (its size is held until its bytes come) or refused. */
  const hold = async (session: InspectionSession, header: ImageHeader): Promise<'held' | InspectResponse__Output> => {
    await session.send({ header });
    const key = header.idempotencyKey;
    await until(() => accepted.has(key) || answers.has(key), 10_000, `an answer to the header of ${key}`);
    return accepted.has(key) ? 'held' : answers.get(key)!;
  };
  const finish = async (session: InspectionSession, header: ImageHeader): Promise<InspectResponse__Output> => {
    await session.send({ chunk: { idempotencyKey: header.idempotencyKey, offset: 0, data: image, last: true } });
    await until(() => answers.has(header.idempotencyKey), 30_000, `the answer for ${header.idempotencyKey}`);
    return answers.get(header.idempotencyKey)!;
  };
  const metric = async (name: string, labels: Record<string, string>): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${cluster.coordinator.metricsServer.port}/metrics`)).text();
    return text.split('\n').filter((line) => (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
  };

  before(async () => {
    image = (await renderSheet({ seed: 8300, contaminated: false, width: 1200, height: 1600 })).bytes;
    cluster = await startCluster({
      workers: 1,
      coordinator: { maxBufferedBytes: IMAGES_IN_BUDGET * image.length, maxImageBytes: 2 * image.length, realtimeReserveFraction: 0.25 },
    });
    client = new InspectionClient(cluster.coordinatorAddress, { ...noSecurity, reconnectBaseDelayMs: 100, reconnectMaxDelayMs: 500, logger: silentLogger });
  });
  after(async () => {
    client?.close();
    await cluster?.stop();
  });

  it('lets one station fill the budget, then gives a refused station the room that station frees', async () => {
    const hogSession = openSession();
    const waiterSession = openSession();
    const hog = Array.from({ length: IMAGES_IN_BUDGET }, () => headerFor('hog'));
    for (const header of hog) assert.equal(await hold(hogSession, header), 'held', 'a station alone may use the whole budget');

    const waiter = headerFor('waiter');
    const refused = await hold(waiterSession, waiter);
    assert.notEqual(refused, 'held');
    assert.equal(refused !== 'held' && refused.rejection?.code, 'OVERLOADED');
    assert.match(refused !== 'held' ? refused.rejection?.reason ?? '' : '', /holds \d+ of its \d+ bytes for images \(maxBufferedBytes\)/);
    answers.delete(waiter.idempotencyKey);

    // One of the hog's images completes and frees its room; the hog's next image would take it back at once.
    const done = await finish(hogSession, hog[0]!);
    assert.ok(done.verdict, `verdict (got ${JSON.stringify(done.rejection)})`);
    const greedy = await hold(hogSession, headerFor('hog'));
    assert.notEqual(greedy, 'held', 'the hog holds 7 images, over its share of 4 while the waiter claims one');
    assert.match(greedy !== 'held' ? greedy.rejection?.reason ?? '' : '', /station hog holds \d+ bytes of realtime images; its fair share while 2 stations send them is \d+/);

    assert.equal(await hold(waiterSession, waiter), 'held', 'the refused station\'s resend gets the freed room');
    const verdict = await finish(waiterSession, waiter);
    assert.ok(verdict.verdict, `verdict (got ${JSON.stringify(verdict.rejection)})`);
    assert.equal(await metric('quicksilver_coordinator_admission_refusals_total', { station: 'waiter', rule: 'budget' }), 1);
    assert.equal(await metric('quicksilver_coordinator_admission_refusals_total', { station: 'hog', rule: 'station_share', priority: 'realtime' }), 1);

    // The waiter got in, so its claim is gone: the hog alone may use the free room beyond a share again.
    assert.equal(await hold(hogSession, headerFor('hog')), 'held');
    hogSession.close();
    waiterSession.close();
    await until(async () => await metric('quicksilver_coordinator_buffered_bytes', {}) === 0, 10_000, 'the closed stream\'s uploads to be released');
  });

  it('ends the claim of a refused station whose stream closed, so the others need not wait out fairShareClaimMs', async () => {
    const hogSession = openSession();
    const goneSession = openSession();
    const hog = Array.from({ length: IMAGES_IN_BUDGET }, () => headerFor('hog-2'));
    for (const header of hog) assert.equal(await hold(hogSession, header), 'held');
    assert.notEqual(await hold(goneSession, headerFor('gone')), 'held', 'refused: it claims room');
    const streams = await metric('quicksilver_coordinator_agent_streams', {});
    goneSession.close();
    await until(async () => await metric('quicksilver_coordinator_agent_streams', {}) === streams - 1, 10_000, 'the closed stream to end at the coordinator');

    const done = await finish(hogSession, hog[0]!);
    assert.ok(done.verdict, `verdict (got ${JSON.stringify(done.rejection)})`);
    // With the claim standing (60 s by default) the hog, holding 7 of a share of 4, would be refused here.
    assert.equal(await hold(hogSession, headerFor('hog-2')), 'held', 'the station that went away claims nothing');
    assert.equal(await metric('quicksilver_coordinator_admission_refusals_total', { station: 'hog-2', rule: 'station_share' }), 0);
    hogSession.close();
    await until(async () => await metric('quicksilver_coordinator_buffered_bytes', {}) === 0, 10_000, 'the closed stream\'s uploads to be released');
  });

  it('keeps the conveyor\'s reserve from bulk images, so a conveyor image gets in while bulk work fills the rest', async () => {
    const bulkSession = openSession();
    const conveyorSession = openSession();
    const bulkLimit = Math.floor(IMAGES_IN_BUDGET * 0.75);
    for (let i = 0; i < bulkLimit; i++) assert.equal(await hold(bulkSession, headerFor('backlog', 'PRIORITY_BULK')), 'held');
    const refused = await hold(bulkSession, headerFor('backlog', 'PRIORITY_BULK'));
    assert.notEqual(refused, 'held', `bulk images may hold ${bulkLimit} of ${IMAGES_IN_BUDGET} images' bytes`);
    assert.equal(refused !== 'held' && refused.rejection?.code, 'OVERLOADED');
    assert.match(refused !== 'held' ? refused.rejection?.reason ?? '' : '', /bulk images hold \d+ of the \d+ bytes they may \(the rest of maxBufferedBytes is kept for conveyor images\)/);
    assert.equal(await metric('quicksilver_coordinator_admission_refusals_total', { station: 'backlog', priority: 'bulk', rule: 'conveyor_reserve' }), 1);

    const conveyor = headerFor('conveyor');
    assert.equal(await hold(conveyorSession, conveyor), 'held', 'a conveyor image is admitted beside the bulk ones');
    const verdict = await finish(conveyorSession, conveyor);
    assert.ok(verdict.verdict, `verdict (got ${JSON.stringify(verdict.rejection)})`);
    bulkSession.close();
    conveyorSession.close();
    await until(async () => await metric('quicksilver_coordinator_buffered_bytes', {}) === 0, 10_000, 'the closed stream\'s uploads to be released');
  });
});
