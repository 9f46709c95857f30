// Admission of image bytes into the coordinator's memory budget (maxBufferedBytes), fair across priority
// classes and stations. An image is admitted when all these rules allow it:
//  1. budget: everything held plus this image fits in `capacity`;
//  2. conveyor reserve: bulk images together hold at most `capacity - realtimeReserve`, so conveyor images
//     are still admitted however much bulk work is waiting;
//  3. fair share: a station refused for lack of room claims room until it gets in (or `claimMs` passes
//     without it coming back, or withdraw() says it went away). While a claim stands, a station already
//     holding bytes of the class may hold at most its share of them: bulk, the bulk limit / the stations
//     holding or claiming bulk room; conveyor, the larger of the capacity / all stations holding or claiming
//     room and the reserve / those holding or claiming conveyor room. Conveyor claims restrain both
//     classes, bulk claims bulk images only;
//  4. room for a waiting image: nor may such a station take the room that a claiming station holding
//     nothing needs for its refused image, so an image larger than a share is not crowded out by smaller ones.
// With no claim standing, rules 1 and 2 alone apply (work-conserving: a station alone may fill the budget),
// and a station holding nothing is always admitted when its image fits. Pure bookkeeping: the caller holds
// the bytes and gives back exactly what it took.
import type { PriorityClass } from './task-queue.js';

export type AdmissionRule = 'budget' | 'conveyor_reserve' | 'station_share';

export type Admission = { admitted: true } | { admitted: false; rule: AdmissionRule; reason: string };

export interface FairShareBudgetOptions {
  /** Bytes bulk images may never take (0 = none). */
  realtimeReserve: number;
  /** How long a refused station's claim stands if it does not come back. */
  claimMs: number;
  /** Clock in ms (tests). */
  now?: () => number;
}

interface Claim {
  until: number;
  /** The refused image's size: room kept for it (rule 4). */
  bytes: number;
}

export class FairShareBudget {
  private heldTotal = 0;
  private readonly heldOf: Record<PriorityClass, number> = { realtime: 0, bulk: 0 };
  private readonly heldByStation: Record<PriorityClass, Map<string, number>> = { realtime: new Map(), bulk: new Map() };
  private readonly claims: Record<PriorityClass, Map<string, Claim>> = { realtime: new Map(), bulk: new Map() };
  private readonly now: () => number;

  constructor(readonly capacity: number, private readonly options: FairShareBudgetOptions) {
    if (!(capacity > 0)) throw new RangeError(`budget capacity must be positive, got ${capacity}`);
    if (!(options.realtimeReserve >= 0 && options.realtimeReserve < capacity)) {
      throw new RangeError(`realtime reserve must be >= 0 and below the capacity ${capacity}, got ${options.realtimeReserve}`);
    }
    if (!(options.claimMs >= 0)) throw new RangeError(`claimMs must be >= 0, got ${options.claimMs}`);
    this.now = options.now ?? (() => performance.now());
  }

  get held(): number {
    return this.heldTotal;
  }

  /** Bytes bulk images may hold together. */
  get bulkLimit(): number {
    return this.capacity - this.options.realtimeReserve;
  }

  heldBy(station: string, priority?: PriorityClass): number {
    if (priority) return this.heldByStation[priority].get(station) ?? 0;
    return this.heldBy(station, 'realtime') + this.heldBy(station, 'bulk');
  }

  /** Stations holding bytes of `priority` (any class when undefined) or claiming room for it now. */
  sharingStations(priority?: PriorityClass): number {
    const classes: PriorityClass[] = priority ? [priority] : ['realtime', 'bulk'];
    const stations = new Set<string>();
    for (const p of classes) {
      for (const station of this.heldByStation[p].keys()) stations.add(station);
      for (const station of this.liveClaims(p).keys()) stations.add(station);
    }
    return stations.size;
  }

  /** Takes `bytes` for `station`, or says which rule refuses them (refused for lack of room, it claims room). */
  take(station: string, priority: PriorityClass, bytes: number): Admission {
    const refusal = this.refusal(station, priority, bytes);
    if (refusal) {
      // Refused for lack of room, the station claims room of its class (a station over its share does not).
      if (refusal.rule !== 'station_share') this.claims[priority].set(station, { until: this.now() + this.options.claimMs, bytes });
      return { admitted: false, ...refusal };
    }
    this.claims[priority].delete(station);
    this.heldTotal += bytes;
    this.heldOf[priority] += bytes;
    this.heldByStation[priority].set(station, this.heldBy(station, priority) + bytes);
    return { admitted: true };
  }

  /** The station is gone (its last stream closed): its claims end now rather than after claimMs. */
  withdraw(station: string): void {
    this.claims.realtime.delete(station);
    this.claims.bulk.delete(station);
  }

  /** Gives back what one successful take() took. */
  give(station: string, priority: PriorityClass, bytes: number): void {
    this.heldTotal -= bytes;
    this.heldOf[priority] -= bytes;
    const left = this.heldBy(station, priority) - bytes;
    if (left > 0) this.heldByStation[priority].set(station, left);
    else this.heldByStation[priority].delete(station);
  }

  private liveClaims(priority: PriorityClass): Map<string, Claim> {
    const now = this.now();
    const claims = this.claims[priority];
    for (const [station, claim] of claims) if (claim.until <= now) claims.delete(station);
    return claims;
  }

  private refusal(station: string, priority: PriorityClass, bytes: number): { rule: AdmissionRule; reason: string } | undefined {
    if (this.heldTotal + bytes > this.capacity) {
      return { rule: 'budget', reason: `the coordinator holds ${this.heldTotal} of its ${this.capacity} bytes for images (maxBufferedBytes)` };
    }
    if (priority === 'bulk' && this.heldOf.bulk + bytes > this.bulkLimit) {
      return {
        rule: 'conveyor_reserve',
        reason: `bulk images hold ${this.heldOf.bulk} of the ${this.bulkLimit} bytes they may (the rest of maxBufferedBytes is kept for conveyor images)`,
      };
    }
    const stationHeld = this.heldBy(station, priority);
    if (stationHeld === 0) return undefined;
    // Conveyor stations waiting restrain every class; bulk stations waiting restrain bulk images only.
    const claims = this.liveClaims('realtime').size + (priority === 'bulk' ? this.liveClaims('bulk').size : 0);
    if (claims === 0) return undefined;
    const share = this.shareOf(priority);
    if (stationHeld + bytes > share.bytes) {
      return {
        rule: 'station_share',
        reason: `station ${station} holds ${stationHeld} bytes of ${priority} images; its fair share while ${share.stations} stations send them is ${share.bytes}`,
      };
    }
    const waiting = this.waitingImageCrowdedOut(station, priority, bytes);
    if (waiting) {
      return {
        rule: 'station_share',
        reason: `station ${station} holds ${stationHeld} bytes; the room left is kept for station ${waiting.station}'s ${waiting.bytes}-byte image, refused earlier`,
      };
    }
    return undefined;
  }

  /** A station's share of its class's room while stations claim it (the whole room when none does). */
  private shareOf(priority: PriorityClass): { bytes: number; stations: number } {
    if (priority === 'bulk') {
      const stations = this.sharingStations('bulk');
      return { bytes: Math.floor(this.bulkLimit / Math.max(1, stations)), stations };
    }
    const stations = this.sharingStations();
    const conveyors = this.sharingStations('realtime');
    const bytes = Math.floor(Math.max(this.capacity / Math.max(1, stations), this.options.realtimeReserve / Math.max(1, conveyors)));
    return { bytes, stations };
  }

  /**
   * A claiming station holding nothing whose image would no longer fit after this take: conveyor claims
   * count against every take, bulk claims only against bulk takes (and need room under the bulk limit).
   */
  private waitingImageCrowdedOut(station: string, priority: PriorityClass, bytes: number): { station: string; bytes: number } | undefined {
    const roomLeft = this.capacity - this.heldTotal - bytes;
    const bulkRoomLeft = Math.min(roomLeft, this.bulkLimit - this.heldOf.bulk - (priority === 'bulk' ? bytes : 0));
    const classes: PriorityClass[] = priority === 'bulk' ? ['realtime', 'bulk'] : ['realtime'];
    for (const p of classes) {
      for (const [claimant, claim] of this.liveClaims(p)) {
        if (claimant === station || this.heldBy(claimant) > 0) continue;
        if (claim.bytes > (p === 'bulk' ? bulkRoomLeft : roomLeft)) return { station: claimant, bytes: claim.bytes };
      }
    }
    return undefined;
  }
}
