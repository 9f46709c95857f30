// ConcurrencyLimiter as a pure unit: regular permits, the urgent reserve, and who is served first.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConcurrencyLimiter, type Release } from '../../gpu-worker/src/concurrency-limiter.js';

describe('ConcurrencyLimiter', () => {
  it('never lets normal holders exceed the limit, and serves them in arrival order', async () => {
    const limiter = new ConcurrencyLimiter(2);
    const held = [await limiter.acquire(), await limiter.acquire()];
    const order: number[] = [];
    const waiting = [1, 2].map((n) => limiter.acquire().then((release) => { order.push(n); return release; }));
    await Promise.resolve();
    assert.equal(limiter.inUse, 2);
    assert.deepEqual(order, []);
    held[0]!();
    held[0]!(); // a second call is ignored
    const first = await waiting[0]!;
    assert.deepEqual(order, [1]);
    assert.equal(limiter.inUse, 2);
    held[1]!();
    (await waiting[1]!)();
    first();
    assert.equal(limiter.inUse, 0);
  });

  it('gives urgent requests the reserve above the limit, and serves waiting urgent requests before normal ones', async () => {
    const limiter = new ConcurrencyLimiter(2, 1);
    const normal = [await limiter.acquire(false), await limiter.acquire(false)];
    const urgentAtOnce = await limiter.acquire(true); // the reserve: no wait although the limit is reached
    assert.equal(limiter.inUse, 3);
    const order: string[] = [];
    const track = (name: string, p: Promise<Release>) => p.then((release) => { order.push(name); return release; });
    const normalWaiting = track('normal', limiter.acquire(false));
    const urgentWaiting = track('urgent', limiter.acquire(true));
    await Promise.resolve();
    assert.deepEqual(order, []);
    urgentAtOnce(); // 2 in use: room for an urgent holder only (normal ones fit within 2)
    await urgentWaiting;
    assert.deepEqual(order, ['urgent']);
    normal[0]!(); // 2 in use again, still no room for normal
    await Promise.resolve();
    assert.deepEqual(order, ['urgent']);
    normal[1]!();
    await normalWaiting;
    assert.deepEqual(order, ['urgent', 'normal']);
    assert.equal(limiter.inUse, 2);
  });

  it('with normalYieldsToUrgent, starts no normal holder while an urgent one holds a permit', async () => {
    const limiter = new ConcurrencyLimiter(2, 1, true);
    const normal = await limiter.acquire(false);
    const urgent = await limiter.acquire(true);
    let normalStarted = false;
    const waiting = limiter.acquire(false).then((release) => { normalStarted = true; return release; });
    await Promise.resolve();
    assert.equal(normalStarted, false, '2 in use with room under the limit, but an urgent holder is active');
    normal();
    await Promise.resolve();
    assert.equal(normalStarted, false, 'still waiting: the urgent holder is active');
    urgent();
    (await waiting)();
    assert.equal(normalStarted, true);
    assert.equal(limiter.inUse, 0);
  });

  it('rejects a bad limit or reserve', () => {
    assert.throws(() => new ConcurrencyLimiter(0), /positive integer/);
    assert.throws(() => new ConcurrencyLimiter(2, -1), /reserve/);
  });
});
