import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ImageBufferPool, MIN_POOLED_BYTES } from '../../gpu-worker/src/image-buffer-pool.js';

const MiB = 2 ** 20;

function pool(maxIdleBytes = 64 * MiB) {
  const registry = new Registry();
  const images = new ImageBufferPool({ maxIdleBytes, registry });
  const outcomes = async () => Object.fromEntries((await registry.getSingleMetric('quicksilver_worker_image_buffers_acquired_total')!.get()).values
    .map((v) => [v.labels.outcome, v.value]));
  const idleBytes = async () => (await registry.getSingleMetric('quicksilver_worker_image_buffer_pool_idle_bytes')!.get()).values[0]?.value ?? 0;
  return { images, outcomes, idleBytes };
}

describe('ImageBufferPool', { timeout: 10_000 }, () => {
  it('hands out buffers of the asked size and reuses a released one for an image of similar size', async () => {
    const { images, outcomes } = pool();
    const first = images.acquire(500_000);
    assert.equal(first.length, 500_000);
    images.release(first);
    const second = images.acquire(520_000); // a slightly larger sheet fits the headroom
    assert.equal(second.length, 520_000);
    assert.equal(second.buffer, first.buffer, 'the same memory');
    assert.deepEqual(await outcomes(), { allocated: 1, reused: 1 });
  });

  it('never lends one buffer twice: buffers held at once are distinct; a second release and foreign buffers are ignored', async () => {
    const { images, outcomes } = pool();
    const held = Array.from({ length: 5 }, () => images.acquire(300_000));
    assert.equal(new Set(held.map((b) => b.buffer)).size, 5);
    images.release(held[0]!);
    images.release(held[0]!); // twice: must not put it in the idle list twice
    images.release(Buffer.alloc(300_000)); // not lent by the pool
    const a = images.acquire(300_000);
    const b = images.acquire(300_000);
    assert.equal(a.buffer, held[0]!.buffer);
    assert.notEqual(b.buffer, a.buffer, 'the second acquire gets fresh memory, not the buffer released twice');
    assert.ok(held.slice(1).every((h) => h.buffer !== b.buffer));
    assert.deepEqual(await outcomes(), { allocated: 6, reused: 1 });
  });

  it('takes back a view of a lent buffer (a short read returns a subarray)', () => {
    const { images } = pool();
    const whole = images.acquire(400_000);
    images.release(whole.subarray(0, 1000));
    assert.equal(images.acquire(400_000).buffer, whole.buffer);
  });

  it('does not pool small images, and keeps at most maxIdleBytes idle', async () => {
    const { images, outcomes, idleBytes } = pool(2 * MiB);
    const small = images.acquire(MIN_POOLED_BYTES - 1);
    images.release(small);
    assert.equal(await idleBytes(), 0);
    const big = Array.from({ length: 4 }, () => images.acquire(MiB));
    for (const b of big) images.release(b);
    const idle = await idleBytes();
    assert.ok(idle > 0 && idle <= 2 * MiB, `idle ${idle} bytes, bound ${2 * MiB}`);
    assert.equal((await outcomes()).unpooled, 1);
  });

  it('gives a larger image fresh memory when every idle buffer is too small', () => {
    const { images } = pool();
    const small = images.acquire(200_000);
    images.release(small);
    const large = images.acquire(3_000_000);
    assert.notEqual(large.buffer, small.buffer);
    assert.equal(images.acquire(150_000).buffer, small.buffer, 'the small one still serves a small image');
  });
});
