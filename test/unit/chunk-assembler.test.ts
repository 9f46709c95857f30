import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ChunkAssembler, MIN_FORWARDED_CHUNK_BYTES } from '../../coordinator/src/chunk-assembler.js';

/** A chunk as grpc-js hands it over: a view into the (larger) wire message it was decoded from. */
const asDecoded = (bytes: Buffer): Buffer => {
  const message = Buffer.alloc(bytes.length + 100);
  bytes.copy(message, 50);
  return message.subarray(50, 50 + bytes.length);
};

const assemble = (image: Buffer, cut: (image: Buffer) => Buffer[]) => {
  const assembler = new ChunkAssembler(image.length);
  const chunks = cut(image).map(asDecoded);
  for (const chunk of chunks) assembler.append(chunk);
  return { assembler, chunks };
};
const joined = (assembler: ChunkAssembler): Buffer => {
  const image = assembler.image();
  return Array.isArray(image) ? Buffer.concat(image as Buffer[]) : (image as Buffer);
};
/** Bytes of distinct ArrayBuffers behind `pieces`: what they keep alive. */
const retainedBytes = (pieces: Buffer[]) => [...new Set(pieces.map((p) => p.buffer))].reduce((sum, b) => sum + b.byteLength, 0);

describe('ChunkAssembler', { timeout: 5000 }, () => {
  it('copies tiny chunks together: 5000 one-byte chunks are held as one piece, none of their messages kept alive', () => {
    const image = randomBytes(5000);
    const { assembler, chunks } = assemble(image, (b) => [...b].map((byte) => Buffer.of(byte)));
    const held = assembler.held();
    assert.equal(held.length, 1, `${held.length} pieces held`);
    const messages = new Set(chunks.map((c) => c.buffer));
    assert.ok(held.every((piece) => !messages.has(piece.buffer)), 'no wire message is kept alive');
    assert.equal(retainedBytes(held), image.length, 'the staging buffer is the declared size: no more');
    assert.deepEqual(joined(assembler), image);
  });

  it('keeps large chunks as they came (no copy) and bounds the pieces and memory of any mix', () => {
    const image = randomBytes(20 * MIN_FORWARDED_CHUNK_BYTES + 7);
    const large = assemble(image, (b) => [b.subarray(0, 3 * MIN_FORWARDED_CHUNK_BYTES), b.subarray(3 * MIN_FORWARDED_CHUNK_BYTES)]);
    assert.deepEqual(large.assembler.held().map((p) => p.buffer), large.chunks.map((c) => c.buffer), 'views of the received messages');
    assert.deepEqual(joined(large.assembler), image);

    // The worst mix: one byte, one forwarded-size chunk, one byte, ...
    const mixed = assemble(image, (b) => {
      const parts: Buffer[] = [];
      for (let at = 0; at < b.length;) {
        const size = parts.length % 2 === 0 ? 1 : MIN_FORWARDED_CHUNK_BYTES;
        parts.push(b.subarray(at, at + size));
        at += size;
      }
      return parts;
    });
    const held = mixed.assembler.held();
    assert.ok(held.length <= 2 * Math.ceil(image.length / MIN_FORWARDED_CHUNK_BYTES) + 1, `${held.length} pieces`);
    const messages = new Set(mixed.chunks.filter((c) => c.length < MIN_FORWARDED_CHUNK_BYTES).map((c) => c.buffer));
    assert.ok(held.every((piece) => !messages.has(piece.buffer)), 'no tiny chunk\'s message is kept alive');
    assert.ok(retainedBytes(held) <= image.length + 100 * held.length + MIN_FORWARDED_CHUNK_BYTES, `${retainedBytes(held)} bytes retained for ${image.length}`);
    assert.deepEqual(joined(mixed.assembler), image);
  });

  it('returns the same bytes however the image was cut', () => {
    const image = randomBytes(3 * MIN_FORWARDED_CHUNK_BYTES + 12_345);
    for (let seed = 1; seed <= 20; seed++) {
      let state = seed;
      const next = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31);
      const { assembler } = assemble(image, (b) => {
        const parts: Buffer[] = [];
        for (let at = 0; at < b.length;) {
          const size = 1 + (next() % (next() % 2 === 0 ? 100 : 2 * MIN_FORWARDED_CHUNK_BYTES));
          parts.push(b.subarray(at, at + size));
          at += size;
        }
        return parts;
      });
      assert.equal(assembler.received, image.length);
      assert.ok(joined(assembler).equals(image), `seed ${seed}`);
    }
  });
});
