import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FairShareBudget, type Admission } from '../../coordinator/src/admission-budget.js';

const ruleOf = (admission: Admission) => (admission.admitted ? 'admitted' : admission.rule);
const reasonOf = (admission: Admission) => (admission.admitted ? '' : admission.reason);

describe('FairShareBudget', { timeout: 5000 }, () => {
  it('lets a station alone use the whole budget, then refuses any image that does not fit', () => {
    const budget = new FairShareBudget(100, { realtimeReserve: 0, claimMs: 1000, now: () => 0 });
    for (let i = 0; i < 10; i++) assert.equal(ruleOf(budget.take('a', 'realtime', 10)), 'admitted');
    const full = budget.take('b', 'realtime', 1);
    assert.equal(ruleOf(full), 'budget');
    assert.match(reasonOf(full), /holds 100 of its 100 bytes/);
    assert.equal(budget.held, 100);
  });

  it('keeps the conveyor reserve from bulk images, whatever the station', () => {
    const budget = new FairShareBudget(100, { realtimeReserve: 25, claimMs: 0, now: () => 0 });
    assert.equal(ruleOf(budget.take('bulk-1', 'bulk', 50)), 'admitted');
    assert.equal(ruleOf(budget.take('bulk-2', 'bulk', 25)), 'admitted');
    assert.equal(ruleOf(budget.take('bulk-3', 'bulk', 1)), 'conveyor_reserve', 'bulk images hold 75 of 75');
    assert.equal(ruleOf(budget.take('conveyor', 'realtime', 25)), 'admitted', 'the reserve is the conveyor\'s');
    budget.give('bulk-1', 'bulk', 50);
    assert.equal(ruleOf(budget.take('bulk-3', 'bulk', 50)), 'admitted', 'room again once bulk images finish');
    assert.equal(budget.held, 100);
  });

  it('holds a station to its share while another waits, until that one got in', () => {
    const budget = new FairShareBudget(100, { realtimeReserve: 0, claimMs: 1000, now: () => 0 });
    for (let i = 0; i < 10; i++) budget.take('hog', 'realtime', 10);
    assert.equal(ruleOf(budget.take('waiter', 'realtime', 10)), 'budget');
    assert.equal(budget.sharingStations(), 2, 'the refused station claims room');
    budget.give('hog', 'realtime', 10);
    const overShare = budget.take('hog', 'realtime', 10);
    assert.equal(ruleOf(overShare), 'station_share', 'hog holds 90 of a 50 share');
    assert.match(reasonOf(overShare), /station hog holds 90 bytes of realtime images; its fair share while 2 stations send them is 50/);
    assert.equal(ruleOf(budget.take('waiter', 'realtime', 10)), 'admitted', 'the freed room goes to the refused station');
    assert.equal(ruleOf(budget.take('waiter', 'realtime', 10)), 'budget', 'the budget is full again');
    budget.give('hog', 'realtime', 10);
    budget.give('hog', 'realtime', 10);
    assert.equal(ruleOf(budget.take('hog', 'realtime', 10)), 'station_share', 'the waiter claims again');
    assert.equal(ruleOf(budget.take('waiter', 'realtime', 10)), 'admitted');
    assert.equal(ruleOf(budget.take('hog', 'realtime', 10)), 'admitted', 'no claim stands: work-conserving again');
  });

  it('lets a claim lapse after claimMs when the refused station does not come back', () => {
    let now = 0;
    const budget = new FairShareBudget(100, { realtimeReserve: 0, claimMs: 1000, now: () => now });
    for (let i = 0; i < 10; i++) budget.take('hog', 'realtime', 10);
    budget.take('gone', 'realtime', 10);
    budget.give('hog', 'realtime', 10);
    assert.equal(ruleOf(budget.take('hog', 'realtime', 10)), 'station_share');
    now = 1000;
    assert.equal(budget.sharingStations(), 1);
    assert.equal(ruleOf(budget.take('hog', 'realtime', 10)), 'admitted');
  });

  it('ends the claims of a station that went away at once', () => {
    const budget = new FairShareBudget(100, { realtimeReserve: 0, claimMs: 60_000, now: () => 0 });
    for (let i = 0; i < 10; i++) budget.take('hog', 'realtime', 10);
    assert.equal(ruleOf(budget.take('gone', 'realtime', 10)), 'budget');
    assert.equal(ruleOf(budget.take('gone', 'bulk', 10)), 'budget');
    budget.give('hog', 'realtime', 10);
    assert.equal(ruleOf(budget.take('hog', 'realtime', 10)), 'station_share', 'the claim stands');
    budget.withdraw('gone');
    assert.equal(budget.sharingStations(), 1);
    assert.equal(ruleOf(budget.take('hog', 'realtime', 10)), 'admitted', 'no claim left: work-conserving again');
  });

  it('keeps room for a waiting image larger than a share: smaller ones from a busy station do not crowd it out', () => {
    const budget = new FairShareBudget(1000, { realtimeReserve: 0, claimMs: 60_000, now: () => 0 });
    for (let i = 0; i < 10; i++) budget.take('small', 'realtime', 100);
    let refusals = 0;
    let crowdedOut = 0;
    for (let round = 0; round < 100; round++) {
      budget.give('small', 'realtime', 100);
      if (!budget.take('small', 'realtime', 100).admitted) crowdedOut++;
      const large = budget.take('large', 'realtime', 600);
      if (!large.admitted) refusals++;
      else break;
    }
    assert.ok(refusals <= 6, `the 600-byte image got in after ${refusals} refusals (the busy station drains to make room)`);
    assert.ok(crowdedOut > 0);
    assert.equal(budget.heldBy('large'), 600);
  });

  it('does not let bulk claims shrink the conveyor\'s share of its own reserve', () => {
    const budget = new FairShareBudget(800, { realtimeReserve: 200, claimMs: 60_000, now: () => 0 });
    for (let i = 0; i < 12; i++) assert.ok(budget.take(`bulk${i}`, 'bulk', 50).admitted);
    for (let i = 0; i < 12; i++) assert.equal(ruleOf(budget.take(`bulk${i}`, 'bulk', 50)), 'conveyor_reserve');
    assert.ok(budget.take('conveyor', 'realtime', 100).admitted);
    assert.ok(budget.take('conveyor', 'realtime', 100).admitted, 'the free 100 bytes only conveyor images may use');
  });

  it('divides the bulk room among bulk stations, and a waiting conveyor restrains bulk images too', () => {
    const budget = new FairShareBudget(100, { realtimeReserve: 20, claimMs: 60_000, now: () => 0 });
    for (let i = 0; i < 8; i++) budget.take('backlog', 'bulk', 10);
    assert.equal(ruleOf(budget.take('archive', 'bulk', 10)), 'conveyor_reserve', 'the bulk room (80) is full');
    budget.give('backlog', 'bulk', 10);
    assert.equal(ruleOf(budget.take('backlog', 'bulk', 10)), 'station_share', 'backlog holds 70 of a 40 share');
    assert.equal(ruleOf(budget.take('archive', 'bulk', 10)), 'admitted');
    for (let i = 0; i < 2; i++) budget.take('conveyor', 'realtime', 10);
    assert.equal(ruleOf(budget.take('late-conveyor', 'realtime', 10)), 'budget');
    budget.give('backlog', 'bulk', 10);
    const crowding = budget.take('archive', 'bulk', 10);
    assert.equal(ruleOf(crowding), 'station_share', 'the room is kept for the waiting conveyor image');
    assert.match(reasonOf(crowding), /kept for station late-conveyor's 10-byte image/);
    assert.ok(budget.take('late-conveyor', 'realtime', 10).admitted);
  });

  it('refuses a reserve as large as the budget', () => {
    assert.throws(() => new FairShareBudget(100, { realtimeReserve: 100, claimMs: 0 }), RangeError);
  });
});
