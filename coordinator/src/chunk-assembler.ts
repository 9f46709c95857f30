// Holds an upload's bytes as they arrive, at a memory cost close to the bytes themselves.
// A chunk grpc-js decoded is a view into the wire message it came in: keeping a 1-byte chunk keeps a
// Buffer object and its ~100-byte message alive. So chunks of at least MIN_FORWARDED_CHUNK_BYTES are
// kept as they came (views, no copy; the overhead is negligible next to them) and smaller ones are
// copied into staging buffers of that size, filled in order, so the pieces held number at most about
// 2 x size / MIN_FORWARDED_CHUNK_BYTES + 1 and the memory at most the size + one staging buffer.
import type { ImageBytes } from './dispatcher.js';

/** Chunks of at least this size are kept (and forwarded to the worker) as they came; smaller ones are copied together. */
export const MIN_FORWARDED_CHUNK_BYTES = 64 * 1024;

export class ChunkAssembler {
  private readonly pieces: Buffer[] = [];
  private stage: Buffer | undefined;
  /** Where the bytes not yet in `pieces` start in `stage`, and where the next ones go. */
  private stageStart = 0;
  private stageEnd = 0;
  private length = 0;

  /** `sizeBytes`: the declared size; a staging buffer is never larger than what is left of it. */
  constructor(private readonly sizeBytes: number) {}

  get received(): number {
    return this.length;
  }

  append(data: Buffer): void {
    if (data.length === 0) return;
    if (data.length >= MIN_FORWARDED_CHUNK_BYTES) {
      this.flushStage();
      this.pieces.push(data); // kept as received: no copy
    } else {
      let from = 0;
      while (from < data.length) {
        if (!this.stage || this.stageEnd === this.stage.length) {
          this.flushStage();
          this.stage = Buffer.allocUnsafeSlow(Math.max(1, Math.min(MIN_FORWARDED_CHUNK_BYTES, this.sizeBytes - this.length)));
          this.stageStart = this.stageEnd = 0;
        }
        const copied = data.copy(this.stage, this.stageEnd, from);
        this.stageEnd += copied;
        from += copied;
        this.length += copied;
      }
      return;
    }
    this.length += data.length;
  }

  /** The pieces held so far, in order (the staged bytes not yet in a piece included); changes nothing. */
  held(): Buffer[] {
    const staged = this.stage && this.stageEnd > this.stageStart ? [this.stage.subarray(this.stageStart, this.stageEnd)] : [];
    return [...this.pieces, ...staged];
  }

  /** The image once complete: one buffer, or its pieces in order (the worker channel forwards them as they are). */
  image(): ImageBytes {
    this.flushStage();
    return this.pieces.length === 1 ? this.pieces[0]! : this.pieces;
  }

  /** Moves the staged bytes not yet in `pieces` there; the rest of the staging buffer stays in use. */
  private flushStage(): void {
    if (!this.stage || this.stageEnd === this.stageStart) return;
    this.pieces.push(this.stage.subarray(this.stageStart, this.stageEnd));
    this.stageStart = this.stageEnd;
  }
}
