// The coordinator's wait queue: strict priority between classes (conveyor real-time work always
// before bulk/re-scan work), round-robin between stations inside a class (one busy station cannot
// starve the others), FIFO within a station.
export const PRIORITY_CLASSES = ['realtime', 'bulk'] as const;
export type PriorityClass = (typeof PRIORITY_CLASSES)[number];

export interface Queueable {
  priority: PriorityClass;
  station: string;
}

export class TaskQueue<T extends Queueable> {
  /** Per class, station lanes; Map order is the round-robin order (a served lane moves to the back). */
  private readonly lanes: Record<PriorityClass, Map<string, T[]>> = { realtime: new Map(), bulk: new Map() };
  private readonly counts: Record<PriorityClass, number> = { realtime: 0, bulk: 0 };

  get size(): number {
    return this.counts.realtime + this.counts.bulk;
  }

  sizeOf(priority: PriorityClass): number {
    return this.counts[priority];
  }

  push(item: T): void {
    this.lane(item).push(item);
    this.counts[item.priority]++;
  }

  /** Puts an item back at the head of its station's lane (a retry keeps its place). */
  unshift(item: T): void {
    this.lane(item).unshift(item);
    this.counts[item.priority]++;
  }

  remove(item: T): boolean {
    const lanes = this.lanes[item.priority];
    const lane = lanes.get(item.station);
    const index = lane?.indexOf(item) ?? -1;
    if (!lane || index < 0) return false;
    lane.splice(index, 1);
    if (lane.length === 0) lanes.delete(item.station);
    this.counts[item.priority]--;
    return true;
  }

  /** Removes and returns the next item `accept` takes, in priority / round-robin / FIFO order. */
  take(accept: (item: T) => boolean): T | undefined {
    for (const priority of PRIORITY_CLASSES) {
      const lanes = this.lanes[priority];
      for (const [station, lane] of lanes) {
        const index = lane.findIndex(accept);
        if (index < 0) continue;
        const [item] = lane.splice(index, 1);
        lanes.delete(station);
        if (lane.length > 0) lanes.set(station, lane);
        this.counts[priority]--;
        return item;
      }
    }
    return undefined;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (const priority of PRIORITY_CLASSES) for (const lane of this.lanes[priority].values()) yield* lane;
  }

  private lane(item: T): T[] {
    const lanes = this.lanes[item.priority];
    let lane = lanes.get(item.station);
    if (!lane) lanes.set(item.station, (lane = []));
    return lane;
  }
}
