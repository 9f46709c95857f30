// How long a worker takes to answer one task of a priority class: an exponentially weighted average of
// its round trips (dispatch to result), weighted by time (a sample counts less the sooner it follows the
// previous one, so the memory is about `sampleDecayMs` whatever the rate). While the worker holds no task
// of the class the estimate decays toward 0 over `idleDecayMs`, so a worker that once looked slow (a
// hiccup, a cold start) is tried again instead of being passed over for good (Finagle's peak-EWMA balancer
// decays likewise); while it holds one, the dispatcher also counts that task's age (a hung worker looks slow).
export class ServiceTimeEstimate {
  private estimateMs: number | undefined;
  private sampledAt = 0;

  constructor(private readonly sampleDecayMs = 10_000, private readonly idleDecayMs = 60_000) {}

  /** Records one round trip measured at `now` (ms). */
  observe(roundTripMs: number, now: number): void {
    // Blends with the average as last sampled: the idle decay only bears on reads.
    const weight = this.estimateMs === undefined ? 0 : Math.exp(-Math.max(0, now - this.sampledAt) / this.sampleDecayMs);
    this.estimateMs = (this.estimateMs ?? 0) * weight + roundTripMs * (1 - weight);
    this.sampledAt = now;
  }

  /** The estimate at `now` in ms, undefined before the first sample; it decays only while the worker is `idle` (holds no such task). */
  read(now: number, idle = true): number | undefined {
    if (this.estimateMs === undefined || !idle) return this.estimateMs;
    return this.estimateMs * Math.exp(-Math.max(0, now - this.sampledAt) / this.idleDecayMs);
  }
}
