// Admission of image bytes into the coordinator's memory budget (maxBufferedBytes), fair across priority
// classes and stations. An image is admitted when all three rules allow it:
//  1. budget: everything held plus this image fits in `capacity`;
//  2. conveyor reserve: bulk images together hold at most `capacity - realtimeReserve`, so conveyor
//     images are still admitted however much bulk work is waiting;
//  3. fair share: a station already holding bytes may hold at most capacity / N, N = the stations holding
//     bytes or refused within the last `claimMs`. Work-conserving: a station alone may use the whole
//     budget; once another is refused, the first gets no more than its share until that claim lapses, so
//     the refused station's resend finds the room the first's finished images free. A station holding
//     nothing is admitted whenever its image fits (an image larger than a share is never starved).
// Pure bookkeeping: the caller holds the bytes and gives back exactly what it took.
import type { PriorityClass } from './task-queue.js';

export type AdmissionRule = 'budget' | 'conveyor_reserve' | 'station_share';

export type Admission = { admitted: true } | { admitted: false; rule: AdmissionRule; reason: string };

export interface FairShareBudgetOptions {
  /** Bytes bulk images may never take (0 = none). */
  realtimeReserve: number;
  /** How long a refused station counts when the budget is divided into fair shares. */
  claimMs: number;
  /** Clock in ms (tests). */
  now?: () => number;
}

export class FairShareBudget {
  private heldTotal = 0;
  private heldBulk = 0;
  private readonly heldByStation = new Map<string, number>();
  /** Station → when its claim (from a refusal) lapses. */
  private readonly claims = new Map<string, number>();
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

  heldBy(station: string): number {
    return this.heldByStation.get(station) ?? 0;
  }

  /** Stations among which the budget is shared now: those holding bytes and those refused within claimMs. */
  get sharingStations(): number {
    const now = this.now();
    let count = this.heldByStation.size;
    for (const [station, until] of this.claims) {
      if (until <= now) this.claims.delete(station);
      else if (!this.heldByStation.has(station)) count++;
    }
    return count;
  }

  /** Takes `bytes` for `station`, or says which rule refuses them; a refused station claims its share for claimMs. */
  take(station: string, priority: PriorityClass, bytes: number): Admission {
    const refusal = this.refusal(station, priority, bytes);
    if (refusal) {
      this.claims.set(station, this.now() + this.options.claimMs);
      return { admitted: false, ...refusal };
    }
    this.heldTotal += bytes;
    if (priority === 'bulk') this.heldBulk += bytes;
    this.heldByStation.set(station, this.heldBy(station) + bytes);
    return { admitted: true };
  }

  /** Gives back what one successful take() took. */
  give(station: string, priority: PriorityClass, bytes: number): void {
    this.heldTotal -= bytes;
    if (priority === 'bulk') this.heldBulk -= bytes;
    const left = this.heldBy(station) - bytes;
    if (left > 0) this.heldByStation.set(station, left);
    else this.heldByStation.delete(station);
  }

  private refusal(station: string, priority: PriorityClass, bytes: number): { rule: AdmissionRule; reason: string } | undefined {
    if (this.heldTotal + bytes > this.capacity) {
      return { rule: 'budget', reason: `the coordinator holds ${this.heldTotal} of its ${this.capacity} bytes for images (maxBufferedBytes)` };
    }
    const bulkLimit = this.capacity - this.options.realtimeReserve;
    if (priority === 'bulk' && this.heldBulk + bytes > bulkLimit) {
      return {
        rule: 'conveyor_reserve',
        reason: `bulk images hold ${this.heldBulk} of the ${bulkLimit} bytes they may (the rest of maxBufferedBytes is kept for conveyor images)`,
      };
    }
    const stationHeld = this.heldBy(station);
    if (stationHeld === 0) return undefined;
    const sharing = this.sharingStations;
    const share = Math.floor(this.capacity / sharing);
    if (stationHeld + bytes > share) {
      return {
        rule: 'station_share',
        reason: `station ${station} holds ${stationHeld} bytes; its fair share of maxBufferedBytes while ${sharing} stations send images is ${share}`,
      };
    }
    return undefined;
  }
}
