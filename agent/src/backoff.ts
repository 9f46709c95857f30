// Jittered exponential backoff ("equal jitter"): the delay for attempt n (0-based) is drawn
// uniformly from [d/2, d] where d = min(maxMs, baseMs * 2^n), so retries from many stations spread out.
export function backoffDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
