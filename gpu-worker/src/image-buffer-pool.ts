// Buffers for the image bytes a worker reads (a file sent by reference or named by a re-scan row) or
// assembles (an image that came in several chunks), handed out again once the engine is done with them.
// A fresh 0.5-3 MB buffer per image costs the kernel's page faults on first touch, and its external
// memory drives V8 into a major collection every ~64 MiB allocated (docs/performance.md).
//
// Contract: acquire() returns a buffer nobody else holds. release() may be called once nothing reads the
// buffer any more (the engine calls it when the decoder is done with it); a second release, or one of a
// buffer the pool did not lend, does nothing. A buffer never released is simply garbage-collected.
import { Counter, Gauge, type Registry } from 'prom-client';

export interface ImageBufferPoolOptions {
  /** Bytes of idle buffers kept for reuse; beyond it a released buffer is left to the garbage collector. */
  maxIdleBytes: number;
  registry: Registry;
}

/** Images below this size come from Node's shared slab or a cheap allocation: not pooled. */
export const MIN_POOLED_BYTES = 64 * 1024;
const GRANULE = 64 * 1024;

/** Room for a slightly larger image next time: sheets of one conveyor vary by some percent. */
const capacityFor = (size: number) => Math.ceil((size * 1.125) / GRANULE) * GRANULE;

export class ImageBufferPool {
  /** Idle buffers, smallest first. */
  private readonly idle: Buffer[] = [];
  private idleBytes = 0;
  /** Lent buffers by their memory; weak, so a buffer never released does not stay reachable here. */
  private readonly lent = new WeakMap<ArrayBufferLike, Buffer>();
  private readonly acquired: Counter<'outcome'>;
  private readonly idleGauge: Gauge;

  constructor(private readonly options: ImageBufferPoolOptions) {
    const registers = [options.registry];
    this.acquired = new Counter({
      name: 'quicksilver_worker_image_buffers_acquired_total', help: 'Buffers for image bytes handed out, by outcome (reused: an idle one; allocated: a new one; unpooled: too small to pool)',
      labelNames: ['outcome'], registers,
    });
    this.idleGauge = new Gauge({ name: 'quicksilver_worker_image_buffer_pool_idle_bytes', help: 'Bytes of idle image buffers kept for reuse', registers });
  }

  /** A buffer of exactly `size` bytes (its contents are whatever was there before). */
  acquire(size: number): Buffer {
    if (size < MIN_POOLED_BYTES) {
      this.acquired.inc({ outcome: 'unpooled' });
      return Buffer.allocUnsafe(size);
    }
    const index = this.idle.findIndex((buffer) => buffer.length >= size);
    let whole: Buffer;
    if (index >= 0) {
      whole = this.idle.splice(index, 1)[0]!;
      this.idleBytes -= whole.length;
      this.idleGauge.set(this.idleBytes);
      this.acquired.inc({ outcome: 'reused' });
    } else {
      // Memory of its own (never a slice of Node's shared slab), so the buffer is known by its ArrayBuffer.
      whole = Buffer.allocUnsafeSlow(capacityFor(size));
      this.acquired.inc({ outcome: 'allocated' });
    }
    this.lent.set(whole.buffer, whole);
    return whole.subarray(0, size);
  }

  /** Takes back a buffer from acquire() (or any view of it) once nothing reads it any more. */
  release(bytes: Uint8Array): void {
    const whole = this.lent.get(bytes.buffer);
    if (!whole) return;
    this.lent.delete(bytes.buffer);
    this.idle.push(whole);
    this.idle.sort((a, b) => a.length - b.length);
    this.idleBytes += whole.length;
    // Over the bound: drop the smallest, which the next large sheet could not use anyway.
    while (this.idleBytes > this.options.maxIdleBytes && this.idle.length > 0) this.idleBytes -= this.idle.shift()!.length;
    this.idleGauge.set(this.idleBytes);
  }
}
