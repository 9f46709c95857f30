// Reads the image of a task sent by reference (TaskHeader.image_uri): from a path under the worker's
// allowed roots (symlinks resolved) or an http(s) URL under its allowed prefixes, never more than the
// declared size, then checks size and SHA-256. Every failure but shutdown is IMAGE_REFERENCE_UNREADABLE
// (the agent then sends the bytes). A read past readTimeoutMs is abandoned; a file read cannot be
// cancelled, so while MAX_STUCK_READS abandoned ones still hold libuv threads (a hung network share),
// new references are refused at once rather than take the threads decodes need.
import { createHash } from 'node:crypto';
import { Counter, Histogram, type Registry } from 'prom-client';
import { QuicksilverError, toQuicksilverError } from '../../common/src/errors.js';
import { LATENCY_BUCKETS_SECONDS } from '../../common/src/metrics.js';
import { readImage } from '../../common/src/rescan/image-uri.js';

export interface ImageReference {
  uri: string;
  sizeBytes: number;
  sha256: string;
}

export interface ImageReferenceReaderOptions {
  allowedRoots: readonly string[];
  allowedUrlPrefixes: readonly string[];
  /** Time allowed for one read, file or http(s). */
  readTimeoutMs: number;
  registry: Registry;
  /** Reads the bytes at a URI (default: readImage; tests hand in a source that hangs). */
  readSource?: typeof readImage;
  /** The buffer a file is read into (default Buffer.allocUnsafe; the worker lends ImageBufferPool's). */
  allocate?: (size: number) => Buffer;
}

/** Abandoned reads still running at which new references are refused (libuv's pool has 4 threads by default). */
export const MAX_STUCK_READS = 2;

const unreadable = (message: string) => new QuicksilverError('IMAGE_REFERENCE_UNREADABLE', message);

export class ImageReferenceReader {
  private readonly reads: Counter<'outcome'>;
  private readonly duration: Histogram;
  private stuck = 0;

  constructor(private readonly options: ImageReferenceReaderOptions) {
    const registers = [options.registry];
    this.reads = new Counter({
      name: 'quicksilver_worker_reference_reads_total', help: 'Images sent by reference read from storage, by outcome (ok, unreadable, abandoned: the worker was stopping)',
      labelNames: ['outcome'], registers,
    });
    this.duration = new Histogram({
      name: 'quicksilver_worker_reference_read_duration_seconds', help: 'Time to read an image sent by reference and check its size and SHA-256, or to fail',
      buckets: LATENCY_BUCKETS_SECONDS, registers,
    });
  }

  /** True when the worker takes references at all (it tells the coordinator at registration). */
  get enabled(): boolean {
    return this.options.allowedRoots.length > 0 || this.options.allowedUrlPrefixes.length > 0;
  }

  /** The image's bytes, checked against the declared size and SHA-256. */
  async read(reference: ImageReference, signal?: AbortSignal): Promise<Buffer> {
    const started = performance.now();
    try {
      const bytes = await this.readChecked(reference, signal);
      this.reads.inc({ outcome: 'ok' });
      return bytes;
    } catch (error) {
      const failure = toQuicksilverError(error);
      if (failure.code === 'SHUTTING_DOWN') {
        this.reads.inc({ outcome: 'abandoned' });
        throw failure;
      }
      this.reads.inc({ outcome: 'unreadable' });
      if (failure.code === 'IMAGE_REFERENCE_UNREADABLE') throw failure;
      // The read's own reasons name the path or URL already.
      if (failure.code === 'IMAGE_TOO_LARGE') throw unreadable(`${reference.uri} holds more than the declared ${reference.sizeBytes} bytes`);
      throw new QuicksilverError('IMAGE_REFERENCE_UNREADABLE', failure.message, { cause: failure });
    } finally {
      this.duration.observe((performance.now() - started) / 1000);
    }
  }

  private async readChecked({ uri, sizeBytes, sha256 }: ImageReference, signal?: AbortSignal): Promise<Buffer> {
    const { allowedRoots, allowedUrlPrefixes, readTimeoutMs, allocate } = this.options;
    if (!this.enabled) throw unreadable(`this worker reads no images by reference (referenceAllowedRoots and referenceAllowedUrlPrefixes are empty): ${uri}`);
    if (this.stuck >= MAX_STUCK_READS) throw unreadable(`${this.stuck} earlier reads by reference are still stuck past ${readTimeoutMs} ms (is a network share hung?): ${uri} not tried`);
    // maxBytes = the declared size: a file that grew is refused without reading it whole.
    const reading = (this.options.readSource ?? readImage)(uri, { allowedRoots, allowedUrlPrefixes, maxBytes: sizeBytes, httpTimeoutMs: readTimeoutMs, signal, allocate });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.stuck++;
        void reading.catch(() => {}).finally(() => this.stuck--);
        reject(unreadable(`${uri}: no complete read within ${readTimeoutMs} ms`));
      }, readTimeoutMs);
    });
    const bytes = await Promise.race([reading, timeout]).finally(() => clearTimeout(timer));
    if (bytes.length !== sizeBytes) throw unreadable(`${uri} does not hold the declared ${sizeBytes} bytes`);
    // The actual digest is not echoed back: a station learns nothing about a file it may not read.
    if (createHash('sha256').update(bytes).digest('hex') !== sha256) throw unreadable(`the bytes at ${uri} do not match the declared SHA-256 ${sha256}`);
    return bytes;
  }
}
