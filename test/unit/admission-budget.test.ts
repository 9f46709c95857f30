import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FairShareBudget, type Admission } from '../../coordinator/src/admission-budget.js';

const refusedBy = (admission: Admission) => (admission.admitted ? 'admitted' : admission.rule);

describe('FairShareBudget', { timeout: 5000 }, () => {
  it('lets a station alone use the whole budget, then refuses any image that does not fit', () => {
    const budget = new FairShareBudget(100, { realtimeReserve: 0, claimMs: 1000, now: () => 0 });
    for (let i = 0; i < 10; i++) assert.equal(refusedBy(budget.take('a', 'realtime', 10)), 'admitted');
    const full = budget.take('b', 'realtime', 1);
    assert.equal(refusedBy(full), 'budget');
    assert.match(!full.admitted ? full.reason : '', /holds 100 of its 100 bytes/);
    assert.equal(budget.held, 100);
  });

  it('keeps the conveyor reserve from bulk images, whatever the station', () => {
    const budget = new FairShareBudget(100, { realtimeReserve: 25, claimMs: 0, now: () => 0 });
    assert.equal(refusedBy(budget.take('bulk-1', 'bulk', 50)), 'admitted');
    assert.equal(refusedBy(budget.take('bulk-2', 'bulk', 25)), 'admitted');
    assert.equal(refusedBy(budget.take('bulk-3', 'bulk', 1)), 'conveyor_reserve', 'bulk images hold 75 of 75');
    assert.equal(refusedBy(budget.take('conveyor', 'realtime', 25)), 'admitted', 'the reserve is the conveyor\'s');
    budget.give('bulk-1', 'bulk', 50);
    assert.equal(refusedBy(budget.take('bulk-3', 'bulk', 50)), 'admitted', 'room again once bulk images finish');
    assert.equal(budget.held, 100);
  });

  it('divides the budget once another station is refused, until that claim lapses', () => {
    let now = 0;
    const budget = new FairShareBudget(100, { realtimeReserve: 0, claimMs: 1000, now: () => now });
    for (let i = 0; i < 10; i++) budget.take('hog', 'realtime', 10);
    assert.equal(budget.sharingStations, 1);
    assert.equal(refusedBy(budget.take('waiter', 'realtime', 10)), 'budget');
    assert.equal(budget.sharingStations, 2, 'the refused station claims its share');
    budget.give('hog', 'realtime', 10);
    const overShare = budget.take('hog', 'realtime', 10);
    assert.equal(refusedBy(overShare), 'station_share', 'hog holds 90 of a 50 share');
    assert.match(!overShare.admitted ? overShare.reason : '', /station hog holds 90 bytes; its fair share .* while 2 stations send images is 50/);
    assert.equal(refusedBy(budget.take('waiter', 'realtime', 10)), 'admitted', 'the freed room goes to the refused station');
    assert.equal(refusedBy(budget.take('waiter', 'realtime', 40)), 'budget', 'the waiter is under its share, but the budget is full');
    for (let i = 0; i < 5; i++) budget.give('hog', 'realtime', 10);
    assert.equal(refusedBy(budget.take('waiter', 'realtime', 40)), 'admitted', 'up to its share of 50');
    assert.equal(refusedBy(budget.take('waiter', 'realtime', 1)), 'station_share');
    budget.give('waiter', 'realtime', 50);
    now = 1000;
    assert.equal(budget.sharingStations, 1, 'the claim lapsed and the waiter holds nothing');
    assert.equal(refusedBy(budget.take('hog', 'realtime', 60)), 'admitted', 'a station alone may use the whole budget again');
    assert.equal(budget.held, 100);
  });

  it('admits a station holding nothing whenever its image fits, even one larger than a share', () => {
    const budget = new FairShareBudget(100, { realtimeReserve: 0, claimMs: 1000, now: () => 0 });
    budget.take('a', 'realtime', 10);
    budget.take('b', 'realtime', 10);
    budget.take('c', 'realtime', 10);
    assert.equal(refusedBy(budget.take('d', 'realtime', 70)), 'admitted', 'a share is 25; the image is 70 and fits');
    assert.equal(refusedBy(budget.take('d', 'realtime', 1)), 'budget');
    budget.give('a', 'realtime', 10);
    assert.equal(refusedBy(budget.take('d', 'realtime', 1)), 'station_share', 'd holds 70 of a 25 share');
  });

  it('refuses a reserve as large as the budget', () => {
    assert.throws(() => new FairShareBudget(100, { realtimeReserve: 100, claimMs: 0 }), RangeError);
  });
});
