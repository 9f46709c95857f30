import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { InspectRequest } from '../../common/src/generated/quicksilver/v1/InspectRequest.js';
import { validateImageHeader } from '../../common/src/image-header.js';
import { contentTypeFor, describeImageFile, isSupportedImageName } from '../../agent/src/image-header.js';
import { sendImage, type InspectRequestSink } from '../../agent/src/image-sender.js';

/** Records messages, copying chunk data as a transport serializing them would (the sender reuses its buffer). */
class RecordingSink implements InspectRequestSink {
  readonly messages: InspectRequest[] = [];
  constructor(private readonly onSend?: (message: InspectRequest) => void) {}
  async send(message: InspectRequest): Promise<void> {
    this.messages.push(message.chunk ? { chunk: { ...message.chunk, data: Buffer.from(message.chunk.data as Buffer) } } : message);
    this.onSend?.(message);
    await new Promise((resolve) => setImmediate(resolve));
  }
  get chunks() {
    return this.messages.flatMap((m) => (m.chunk ? [m.chunk] : []));
  }
}

describe('image header and upload', { timeout: 20_000 }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agent-upload-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('describes a file: streaming sha256, sniffed type, barcode, mtime as capture time, stable key', async () => {
    const path = join(dir, 'QS00012345.tif'); // a PNG behind a .tif name: magic bytes win
    const bytes = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#c8b890' } }).png().toBuffer();
    await writeFile(path, bytes);
    await utimes(path, new Date('2026-11-27T10:15:00Z'), new Date('2026-11-27T10:15:00Z'));
    const header = await describeImageFile(path, { stationId: 'scan-01', modelName: '' });
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    assert.deepEqual(header, {
      idempotencyKey: `scan-01:${sha256}`, stationId: 'scan-01', barcode: 'QS00012345', captureTime: '2026-11-27T10:15:00.000Z',
      contentType: 'image/png', sizeBytes: bytes.length, sha256, fileName: 'QS00012345.tif', modelName: '', priority: 'PRIORITY_REALTIME', imageUri: '',
    });
    assert.ok(validateImageHeader(header).ok, 'the coordinator accepts the header');
  });

  it('falls back to the extension when the magic bytes are unknown', () => {
    assert.equal(contentTypeFor(Buffer.from('hello'), 'a.JPEG'), 'image/jpeg');
    assert.equal(contentTypeFor(Buffer.from('hello'), 'a.tiff'), 'image/tiff');
    assert.equal(contentTypeFor(Buffer.from([0xff, 0xd8, 0xff, 0xe0]), 'a.png'), 'image/jpeg');
    assert.ok(isSupportedImageName('X.TIF') && isSupportedImageName('x.jpeg') && !isSupportedImageName('x.bmp') && !isSupportedImageName('jpg'));
  });

  it('sends the header then in-order chunks of at most chunkBytes, read one chunk at a time', async () => {
    const path = join(dir, 'big.jpg');
    const size = 5 * 1000 + 123;
    const bytes = randomBytes(size);
    await writeFile(path, bytes);
    const header = await describeImageFile(path, { stationId: 's', modelName: 'mercury-cnn' });
    const reads: number[] = [];
    const sink = new RecordingSink();
    await sendImage(sink, header, path, { chunkBytes: 1000, onRead: (n) => reads.push(n) });
    assert.deepEqual(sink.messages[0], { header });
    assert.deepEqual(sink.chunks.map((c) => [c.offset, (c.data as Buffer).length, c.last]), [
      [0, 1000, false], [1000, 1000, false], [2000, 1000, false], [3000, 1000, false], [4000, 1000, false], [5000, 123, true],
    ]);
    assert.ok(sink.chunks.every((c) => c.idempotencyKey === header.idempotencyKey));
    assert.deepEqual(reads, [1000, 1000, 1000, 1000, 1000, 123]);
    assert.deepEqual(Buffer.concat(sink.chunks.map((c) => c.data as Buffer)), bytes, 'bytes intact despite the reused read buffer');
  });

  it('sends a zero-byte file as one empty chunk marked last', async () => {
    const path = join(dir, 'empty.png');
    await writeFile(path, '');
    const header = await describeImageFile(path, { stationId: 's', modelName: '' });
    const sink = new RecordingSink();
    await sendImage(sink, header, path, { chunkBytes: 1000 });
    assert.equal(header.sizeBytes, 0);
    assert.deepEqual(sink.chunks.map((c) => [c.offset, (c.data as Buffer).length, c.last]), [[0, 0, true]]);
  });

  it('ends with last=true at the bytes present when the file shrank after hashing', async () => {
    const path = join(dir, 'shrunk.jpg');
    await writeFile(path, Buffer.alloc(2500, 1));
    const header = await describeImageFile(path, { stationId: 's', modelName: '' });
    await truncate(path, 1500);
    const sink = new RecordingSink();
    await sendImage(sink, header, path, { chunkBytes: 1000 });
    assert.deepEqual(sink.chunks.map((c) => [c.offset, (c.data as Buffer).length, c.last]), [[0, 1000, false], [1000, 500, false], [1500, 0, true]]);
  });

  it('stops between chunks when aborted, and fails before sending anything when the file is gone', async () => {
    const path = join(dir, 'abort.jpg');
    await writeFile(path, Buffer.alloc(5000, 1));
    const header = await describeImageFile(path, { stationId: 's', modelName: '' });
    const controller = new AbortController();
    const sink = new RecordingSink((m) => m.chunk?.offset === 1000 && controller.abort());
    await assert.rejects(sendImage(sink, header, path, { chunkBytes: 1000, signal: controller.signal }), { name: 'AbortError' });
    assert.equal(sink.chunks.length, 2);
    const empty = new RecordingSink();
    await assert.rejects(sendImage(empty, header, join(dir, 'missing.jpg'), { chunkBytes: 1000 }), { code: 'ENOENT' });
    assert.equal(empty.messages.length, 0);
  });
});
