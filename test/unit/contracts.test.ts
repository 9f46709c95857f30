// The .proto contracts round-trip through the runtime loader (same options as the generated types).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHUNK_BYTES, inspectionProto, MAX_MESSAGE_BYTES, workerProto } from '../../common/src/adapters/grpc-services.js';
import type { InspectRequest } from '../../common/src/generated/quicksilver/v1/InspectRequest.js';
import type { InspectResponse } from '../../common/src/generated/quicksilver/v1/InspectResponse.js';
import type { WorkerMessage } from '../../common/src/generated/quicksilver/v1/WorkerMessage.js';
import type { CoordinatorMessage } from '../../common/src/generated/quicksilver/v1/CoordinatorMessage.js';

const inspect = inspectionProto.Inspection.service.Inspect;
const connect = workerProto.WorkerLink.service.Connect;
const sha = 'ab'.repeat(32);

describe('gRPC contracts', { timeout: 5000 }, () => {
  it('agent -> coordinator: header and chunk round-trip with the oneof discriminator', () => {
    const header: InspectRequest = { header: { idempotencyKey: 'st-1:abc', stationId: 'st-1', barcode: 'US 123', captureTime: '2026-11-27T10:00:00Z',
      contentType: 'image/jpeg', sizeBytes: 250 * 1024 * 1024, sha256: sha, fileName: 'US123.jpg', modelName: '' } };
    const decoded = inspect.requestDeserialize(inspect.requestSerialize(header));
    assert.equal(decoded.message, 'header');
    assert.equal(decoded.header!.sizeBytes, 250 * 1024 * 1024, 'uint64 sizes decode as numbers');
    assert.equal(decoded.header!.barcode, 'US 123');
    const data = Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x01]);
    const chunk = inspect.requestDeserialize(inspect.requestSerialize({ chunk: { idempotencyKey: 'st-1:abc', offset: 1024, data, last: true } }));
    assert.equal(chunk.message, 'chunk');
    assert.deepEqual(chunk.chunk!.data, data);
    assert.equal(chunk.chunk!.offset, 1024);
    assert.equal(chunk.chunk!.last, true);
  });

  it('coordinator -> agent: verdict and rejection round-trip', () => {
    const verdict: InspectResponse = { verdict: { idempotencyKey: 'k', stationId: 's', barcode: 'b', label: 'contaminated', score: 0.93, threshold: 0.5,
      flagged: true, modelName: 'mercury-cnn', modelVersion: '1.0.0', workerId: 'w1', executionProvider: 'cpu', sha256: sha, fileName: 'f.jpg',
      decidedAt: '2026-11-27T10:00:01Z', timings: { uploadMs: 1, queueMs: 2, transferMs: 3, decodeMs: 4, inferenceMs: 5, totalMs: 15 } } };
    const v = inspect.responseDeserialize(inspect.responseSerialize(verdict));
    assert.equal(v.message, 'verdict');
    assert.equal(v.verdict!.score, 0.93);
    assert.equal(v.verdict!.flagged, true);
    assert.equal(v.verdict!.timings!.totalMs, 15);
    const r = inspect.responseDeserialize(inspect.responseSerialize({ rejection: { idempotencyKey: 'k', code: 'IMAGE_CORRUPT', reason: 'truncated', retryable: false } }));
    assert.equal(r.message, 'rejection');
    assert.deepEqual({ ...r.rejection }, { idempotencyKey: 'k', code: 'IMAGE_CORRUPT', reason: 'truncated', retryable: false });
  });

  it('worker <-> coordinator: register, task, chunk and result round-trip', () => {
    const register: WorkerMessage = { register: { workerId: 'w1', executionProvider: 'webgpu', device: 'NVIDIA H100', models: [{ name: 'mercury-cnn', version: '1.0.0' }], maxBatchSize: 32, maxInFlight: 64 } };
    const reg = connect.requestDeserialize(connect.requestSerialize(register));
    assert.equal(reg.message, 'register');
    assert.deepEqual(reg.register!.models.map((m) => ({ ...m })), [{ name: 'mercury-cnn', version: '1.0.0' }]);
    assert.equal(reg.register!.maxInFlight, 64);
    const result = connect.requestDeserialize(connect.requestSerialize({ result: { taskId: 't', error: { code: 'IMAGE_TOO_LARGE', reason: 'bomb', retryable: false }, decodeMs: 1, inferenceMs: 0, batchSize: 0 } }));
    assert.equal(result.result!.outcome, 'error');
    assert.equal(result.result!.error!.code, 'IMAGE_TOO_LARGE');
    const task: CoordinatorMessage = { task: { taskId: 't', idempotencyKey: 'k', modelName: 'mercury-cnn', contentType: 'image/tiff', sizeBytes: 40e6, sha256: sha, fileName: 'x.tif' } };
    assert.equal(connect.responseDeserialize(connect.responseSerialize(task)).task!.sizeBytes, 40e6);
  });

  it('a full chunk plus its envelope stays under the 4 MiB message limit', () => {
    const bytes = inspect.requestSerialize({ chunk: { idempotencyKey: 'x'.repeat(128), offset: 2 ** 40, data: Buffer.alloc(CHUNK_BYTES), last: false } });
    assert.ok(bytes.length < MAX_MESSAGE_BYTES, `${bytes.length} bytes`);
    assert.ok(bytes.length > CHUNK_BYTES);
  });
});
