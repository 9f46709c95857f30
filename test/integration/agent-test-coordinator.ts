// A real grpc-js server implementing Inspection for the agent tests: it reassembles each upload's
// chunks (checking offsets, chunk sizes, size and SHA-256, without keeping the bytes) and answers
// Accepted, then whatever `decide` returns for the complete image (or nothing, to hold it).
import { createHash, type Hash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { bindServer, CHUNK_BYTES, channelOptions, grpc, inspectionProto } from '../../common/src/adapters/grpc-services.js';
import type { ImageHeader__Output } from '../../common/src/generated/quicksilver/v1/ImageHeader.js';
import type { InspectRequest__Output } from '../../common/src/generated/quicksilver/v1/InspectRequest.js';
import type { InspectResponse } from '../../common/src/generated/quicksilver/v1/InspectResponse.js';
import type { Verdict } from '../../common/src/generated/quicksilver/v1/Verdict.js';
import { sniffImageFormat } from '../../common/src/preprocess.js';

export interface ReceivedImage {
  header: ImageHeader__Output;
  receivedBytes: number;
  sha256: string;
  intact: boolean;
  /** First bytes, to tell images from text. */
  head: Buffer;
  largestChunk: number;
  /** How many times this key arrived complete (1 for the first). */
  attempt: number;
}

export type Decide = (image: ReceivedImage) => InspectResponse | 'hold';

/** Verdict for an image: flagged when its file name contains 'hot'. */
export function verdictFor(image: ReceivedImage): InspectResponse {
  const flagged = image.header.fileName.includes('hot');
  const verdict: Verdict = {
    idempotencyKey: image.header.idempotencyKey, stationId: image.header.stationId, barcode: image.header.barcode,
    label: flagged ? 'contaminated' : 'clean', score: flagged ? 0.93 : 0.04, threshold: 0.5, flagged,
    modelName: 'mercury-cnn', modelVersion: '1.0.0', workerId: 'test-worker', executionProvider: 'cpu',
    timings: { uploadMs: 1, queueMs: 1, transferMs: 1, workerQueueMs: 1, readMs: 0, decodeMs: 1, inferenceMs: 1, totalMs: 6 },
    sha256: image.sha256, fileName: image.header.fileName, decidedAt: new Date().toISOString(),
  };
  return { verdict };
}

/** Verdict for intact images, terminal rejections for corrupt bytes (like the real coordinator). */
export const defaultDecide: Decide = (image) => {
  const rejection = (code: string, reason: string) => ({ rejection: { idempotencyKey: image.header.idempotencyKey, code, reason, retryable: false } });
  if (!image.intact) return rejection('CHECKSUM_MISMATCH', `${image.header.fileName}: bytes do not match the declared sha256`);
  if (!sniffImageFormat(image.head)) return rejection('IMAGE_CORRUPT', `${image.header.fileName} is not a JPEG, TIFF or PNG image`);
  return verdictFor(image);
};

interface Upload {
  header: ImageHeader__Output;
  hash: Hash;
  received: number;
  head: Buffer;
  largestChunk: number;
  offsetsInOrder: boolean;
}

export class TestCoordinator extends EventEmitter<{ image: [image: ReceivedImage]; chunk: [key: string, offset: number] }> {
  readonly server = new grpc.Server(channelOptions);
  readonly received: ReceivedImage[] = [];
  readonly headers: ImageHeader__Output[] = [];
  port = 0;
  private readonly calls = new Set<grpc.ServerDuplexStream<InspectRequest__Output, InspectResponse>>();

  constructor(public decide: Decide = defaultDecide) {
    super();
    this.server.addService(inspectionProto.Inspection.service, {
      Inspect: (call: grpc.ServerDuplexStream<InspectRequest__Output, InspectResponse>) => this.serve(call),
    });
  }

  static async start(decide?: Decide, port = 0): Promise<TestCoordinator> {
    const coordinator = new TestCoordinator(decide);
    coordinator.port = await bindServer(coordinator.server, `127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure());
    return coordinator;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Resolves once `count` images have arrived complete in total. */
  waitForImages(count: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.received.length < count) return;
        this.off('image', check);
        resolve();
      };
      this.on('image', check);
      check();
    });
  }

  /** Sends an answer for a held image on every open stream (the agent ignores unknown keys). */
  answer(response: InspectResponse): void {
    for (const call of this.calls) call.write(response);
  }

  /** Abrupt death: connections dropped, nothing answered. */
  kill(): void {
    this.server.forceShutdown();
  }

  private serve(call: grpc.ServerDuplexStream<InspectRequest__Output, InspectResponse>): void {
    this.calls.add(call);
    const uploads = new Map<string, Upload>();
    call.on('data', (request: InspectRequest__Output) => {
      if (request.header) {
        this.headers.push(request.header);
        uploads.set(request.header.idempotencyKey, {
          header: request.header, hash: createHash('sha256'), received: 0, head: Buffer.alloc(0), largestChunk: 0, offsetsInOrder: true,
        });
        call.write({ accepted: { idempotencyKey: request.header.idempotencyKey } });
        return;
      }
      const chunk = request.chunk!;
      const upload = uploads.get(chunk.idempotencyKey)!;
      upload.offsetsInOrder &&= chunk.offset === upload.received;
      upload.hash.update(chunk.data);
      upload.received += chunk.data.length;
      upload.largestChunk = Math.max(upload.largestChunk, chunk.data.length);
      if (upload.head.length < 16) upload.head = Buffer.concat([upload.head, chunk.data.subarray(0, 16)]);
      this.emit('chunk', chunk.idempotencyKey, chunk.offset);
      if (!chunk.last) return;
      uploads.delete(chunk.idempotencyKey);
      const sha256 = upload.hash.digest('hex');
      const image: ReceivedImage = {
        header: upload.header, receivedBytes: upload.received, sha256, head: upload.head, largestChunk: upload.largestChunk,
        intact: upload.offsetsInOrder && sha256 === upload.header.sha256 && upload.received === upload.header.sizeBytes && upload.largestChunk <= CHUNK_BYTES,
        attempt: this.received.filter((r) => r.header.idempotencyKey === upload.header.idempotencyKey).length + 1,
      };
      this.received.push(image);
      const response = this.decide(image);
      if (response !== 'hold') call.write(response);
      this.emit('image', image);
    });
    call.on('end', () => call.end());
    call.on('error', () => {});
    call.on('close', () => this.calls.delete(call));
  }
}
