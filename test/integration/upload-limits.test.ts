// What a misbehaving station can make the coordinator hold, over real gRPC against a real coordinator,
// worker and nats-server: an image sent in one-byte chunks costs about its declared size (not a Buffer
// and a wire message per byte), and an upload that stalls is dropped after uploadIdleTimeoutMs
// (UPLOAD_ABORTED, counted) so its reservation stops refusing other stations' images as OVERLOADED.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { InspectionClient } from '../../agent/src/adapters/inspection-client.js';
import type { InspectionSession } from '../../agent/src/adapters/inspection-session.js';
import type { ImageHeader__Output as ImageHeader } from '../../common/src/generated/quicksilver/v1/ImageHeader.js';
import type { InspectResponse__Output } from '../../common/src/generated/quicksilver/v1/InspectResponse.js';
import { renderSheet } from '../../common/src/synth/index.js';
import { MIN_FORWARDED_CHUNK_BYTES } from '../../coordinator/src/chunk-assembler.js';
import { silentLogger, startCluster, until, type Cluster } from '../helpers/cluster.js';

const IDLE_TIMEOUT_MS = 1500;
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const noSecurity = { tlsCaFile: '', tlsCertFile: '', tlsKeyFile: '', tlsServerName: '', authTokenFile: '' };
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('upload limits: tiny chunks and stalled uploads', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let client: InspectionClient;
  let good: Buffer;
  let counter = 0;
  const answers = new Map<string, InspectResponse__Output>();

  const openSession = (): InspectionSession => client.openSession({
    onResponse: (response) => {
      const answer = response.verdict ?? response.rejection;
      if (answer) answers.set(answer.idempotencyKey, response);
    },
    onClosed: () => {},
  });
  const headerFor = (station: string, bytes: Buffer, overrides: Partial<ImageHeader> = {}): ImageHeader => {
    const n = ++counter;
    return {
      idempotencyKey: `${station}:${n}`, stationId: station, barcode: `QS${n}`, captureTime: new Date().toISOString(), contentType: 'image/jpeg',
      sizeBytes: bytes.length, sha256: sha256(bytes), fileName: `QS${n}.jpg`, modelName: '', priority: 'PRIORITY_REALTIME', imageUri: '', ...overrides,
    };
  };
  const answerFor = async (key: string): Promise<InspectResponse__Output> => {
    await until(() => answers.has(key), 30_000, `an answer for ${key}`);
    const answer = answers.get(key)!;
    answers.delete(key);
    return answer;
  };
  const submit = async (session: InspectionSession, header: ImageHeader, bytes: Buffer) => {
    await session.send({ header });
    await session.send({ chunk: { idempotencyKey: header.idempotencyKey, offset: 0, data: bytes, last: true } });
    return answerFor(header.idempotencyKey);
  };
  const metric = async (name: string, labels: Record<string, string>): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${cluster.coordinator.metricsServer.port}/metrics`)).text();
    return text.split('\n').filter((line) => (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
  };

  before(async () => {
    cluster = await startCluster({ workers: 1, coordinator: {
      uploadIdleTimeoutMs: IDLE_TIMEOUT_MS, maxBufferedBytes: MAX_BUFFERED_BYTES, maxImageBytes: MAX_BUFFERED_BYTES, realtimeReserveFraction: 0,
    } });
    client = new InspectionClient(cluster.coordinatorAddress, { ...noSecurity, reconnectBaseDelayMs: 100, reconnectMaxDelayMs: 500, logger: silentLogger });
    good = (await renderSheet({ seed: 8200, contaminated: false, width: 1200, height: 1600 })).bytes;
  });
  after(async () => {
    client?.close();
    await cluster?.stop();
  });

  it('holds an image sent in one-byte chunks as a few buffers of about its size, then classifies it', async () => {
    const session = openSession();
    const header = headerFor('tiny-chunks', good);
    const tinyBytes = 3000;
    assert.ok(good.length > tinyBytes + MIN_FORWARDED_CHUNK_BYTES, `${good.length} bytes`);
    await session.send({ header });
    for (let offset = 0; offset < tinyBytes; offset++) {
      await session.send({ chunk: { idempotencyKey: header.idempotencyKey, offset, data: good.subarray(offset, offset + 1), last: false } });
    }
    const held = () => cluster.coordinator.inspection.heldUploadPieces();
    await until(() => held().reduce((sum, piece) => sum + piece.length, 0) === tinyBytes, 10_000, 'the one-byte chunks to arrive');
    const pieces = held();
    const retained = [...new Set(pieces.map((piece) => piece.buffer))].reduce((sum, buffer) => sum + buffer.byteLength, 0);
    assert.equal(pieces.length, 1, `${tinyBytes} one-byte chunks are held as ${pieces.length} pieces`);
    assert.ok(retained <= MIN_FORWARDED_CHUNK_BYTES, `${retained} bytes retained for ${tinyBytes} received`);
    await session.send({ chunk: { idempotencyKey: header.idempotencyKey, offset: tinyBytes, data: good.subarray(tinyBytes), last: true } });
    const answer = await answerFor(header.idempotencyKey);
    assert.ok(answer.verdict, `verdict (got ${JSON.stringify(answer.rejection)})`);
    session.close();
  });

  it('drops an upload that stalls after its header: UPLOAD_ABORTED, counted, and another station\'s image gets in', async () => {
    const stalled = openSession();
    const other = openSession();
    const abortedBefore = await metric('quicksilver_coordinator_uploads_aborted_total', { station: 'stalling', reason: 'idle' });
    // Station A reserves the whole budget and sends no byte; gRPC keepalive keeps its stream open.
    const hog = headerFor('stalling', Buffer.alloc(0), { sizeBytes: MAX_BUFFERED_BYTES, sha256: '0'.repeat(64) });
    await stalled.send({ header: hog });
    const refused = await submit(other, headerFor('punctual', good), good);
    assert.equal(refused.rejection?.code, 'OVERLOADED', 'while the stalled upload holds the budget');

    const aborted = await answerFor(hog.idempotencyKey);
    assert.equal(aborted.rejection?.code, 'UPLOAD_ABORTED');
    assert.equal(aborted.rejection?.retryable, true, 'the agent resends it');
    assert.match(aborted.rejection?.reason ?? '', /no bytes for \d+ ms/);
    assert.equal(await metric('quicksilver_coordinator_uploads_aborted_total', { station: 'stalling', reason: 'idle' }), abortedBefore + 1);
    assert.equal(await metric('quicksilver_coordinator_buffered_bytes', {}), 0, 'its reservation is released');

    const admitted = await submit(other, headerFor('punctual', good), good);
    assert.ok(admitted.verdict, `another station's image gets its verdict (got ${JSON.stringify(admitted.rejection)})`);

    // A late chunk of the dropped upload is discarded; the resent image is classified on the same stream.
    await stalled.send({ chunk: { idempotencyKey: hog.idempotencyKey, offset: 0, data: good, last: true } });
    const resent = await submit(stalled, headerFor('stalling', good, { idempotencyKey: hog.idempotencyKey }), good);
    assert.ok(resent.verdict, `the resend gets its verdict (got ${JSON.stringify(resent.rejection)})`);
    stalled.close();
    other.close();
  });

  it('keeps an upload whose chunks keep coming, however long it takes in all', async () => {
    const session = openSession();
    const header = headerFor('slow-but-steady', good);
    const piece = Math.ceil(good.length / 4);
    await session.send({ header });
    for (let offset = 0; offset < good.length; offset += piece) {
      await new Promise((resolve) => setTimeout(resolve, IDLE_TIMEOUT_MS / 2));
      const data = good.subarray(offset, offset + piece);
      await session.send({ chunk: { idempotencyKey: header.idempotencyKey, offset, data, last: offset + data.length === good.length } });
    }
    const answer = await answerFor(header.idempotencyKey);
    assert.ok(answer.verdict, `an upload taking ${(4 * IDLE_TIMEOUT_MS) / 2} ms in all is not dropped (got ${JSON.stringify(answer.rejection)})`);
    session.close();
  });
});
