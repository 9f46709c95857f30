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
    const limiter = new ConcurrencyLimiter(2, { urgentReserve: 1 });
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
    const limiter = new ConcurrencyLimiter(2, { urgentReserve: 1, normalYieldsToUrgent: true });
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

  it('lends the urgent reserve to normal holders once urgent work has been idle long enough; an urgent request then still starts at once', async () => {
    let now = 0;
    const limiter = new ConcurrencyLimiter(2, { urgentReserve: 1, normalYieldsToUrgent: true, lendReserveAfterMs: 1000, now: () => now });
    const normal = [await limiter.acquire(false), await limiter.acquire(false), await limiter.acquire(false)];
    assert.equal(limiter.inUse, 3, 'no urgent work yet: the reserve is lent');
    let fourthStarted = false;
    const fourth = limiter.acquire(false).then((release) => { fourthStarted = true; return release; });
    await Promise.resolve();
    assert.equal(fourthStarted, false, 'never more than limit + reserve normal holders');

    now = 5000;
    const urgent = await limiter.acquire(true); // the lent permit counts as free for it
    assert.equal(limiter.inUse, 4);
    normal[0]!();
    await Promise.resolve();
    assert.equal(fourthStarted, false, 'an urgent holder is active: no normal one starts');
    urgent();
    normal[1]!();
    await fourth;
    assert.equal(limiter.inUse, 2, 'urgent work was just here: normal holders fit within the limit again');
    const fifth = limiter.acquire(false);
    let fifthStarted = false;
    void fifth.then(() => { fifthStarted = true; });
    await Promise.resolve();
    assert.equal(fifthStarted, false, 'the reserve is not lent within lendReserveAfterMs of the last urgent release');
    now = 6001;
    normal[2]!(); // the next release after the idle time lends it again
    await fifth;
    assert.equal(limiter.inUse, 2);
    const sixth = await limiter.acquire(false);
    assert.equal(limiter.inUse, 3, 'lent again');
    sixth();
  });

  it('lends nothing by default', async () => {
    const limiter = new ConcurrencyLimiter(2, { urgentReserve: 1 });
    await limiter.acquire(false);
    await limiter.acquire(false);
    let started = false;
    void limiter.acquire(false).then(() => { started = true; });
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(started, false);
    assert.equal(limiter.inUse, 2);
  });

  it('rejects a bad limit or reserve', () => {
    assert.throws(() => new ConcurrencyLimiter(0), /positive integer/);
    assert.throws(() => new ConcurrencyLimiter(2, { urgentReserve: -1 }), /reserve/);
  });
});
