// Reads the image of a task sent by reference (TaskHeader.image_uri): from a path under the worker's
// allowed roots (symlinks resolved) or an http(s) URL under its allowed prefixes, never more than the
// declared size, then checks size and SHA-256. Every failure but shutdown is IMAGE_REFERENCE_UNREADABLE
// (retryable: another worker may have the storage mounted; the agent finally sends the bytes instead).
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
}

export class ImageReferenceReader {
  private readonly reads: Counter<'outcome'>;
  private readonly duration: Histogram;

  constructor(private readonly options: ImageReferenceReaderOptions) {
    const registers = [options.registry];
    this.reads = new Counter({
      name: 'quicksilver_worker_reference_reads_total', help: 'Images sent by reference read from storage, by outcome (ok, unreadable)',
      labelNames: ['outcome'], registers,
    });
    this.duration = new Histogram({
      name: 'quicksilver_worker_reference_read_duration_seconds', help: 'Time to read an image sent by reference and check its size and SHA-256',
      buckets: LATENCY_BUCKETS_SECONDS, registers,
    });
  }

  /** The image's bytes, checked against the declared size and SHA-256. */
  async read(reference: ImageReference, signal?: AbortSignal): Promise<Buffer> {
    const started = performance.now();
    try {
      const bytes = await this.readChecked(reference, signal);
      this.reads.inc({ outcome: 'ok' });
      this.duration.observe((performance.now() - started) / 1000);
      return bytes;
    } catch (error) {
      const failure = toQuicksilverError(error);
      if (failure.code === 'SHUTTING_DOWN') throw failure;
      this.reads.inc({ outcome: 'unreadable' });
      throw failure.code === 'IMAGE_REFERENCE_UNREADABLE' ? failure
        : new QuicksilverError('IMAGE_REFERENCE_UNREADABLE', `cannot read ${reference.uri}: ${failure.message}`, { cause: failure });
    }
  }

  private async readChecked({ uri, sizeBytes, sha256 }: ImageReference, signal?: AbortSignal): Promise<Buffer> {
    const { allowedRoots, allowedUrlPrefixes, readTimeoutMs } = this.options;
    if (allowedRoots.length === 0 && allowedUrlPrefixes.length === 0) {
      throw new QuicksilverError('IMAGE_REFERENCE_UNREADABLE', `this worker reads no images by reference (referenceAllowedRoots and referenceAllowedUrlPrefixes are empty): ${uri}`);
    }
    // maxBytes = the declared size: a file that grew is refused without reading it whole. A file read
    // cannot be cancelled: past the timeout it is abandoned (its libuv thread stays until the storage answers).
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new QuicksilverError('IMAGE_REFERENCE_UNREADABLE', `${uri}: no complete read within ${readTimeoutMs} ms`)), readTimeoutMs);
    });
    const bytes = await Promise.race([readImage(uri, { allowedRoots, allowedUrlPrefixes, maxBytes: sizeBytes, httpTimeoutMs: readTimeoutMs, signal }), timeout])
      .finally(() => clearTimeout(timer));
    if (bytes.length !== sizeBytes) throw new QuicksilverError('IMAGE_REFERENCE_UNREADABLE', `${uri} has ${bytes.length} bytes, declared ${sizeBytes}`);
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256) throw new QuicksilverError('IMAGE_REFERENCE_UNREADABLE', `the bytes at ${uri} hash to ${actual}, declared ${sha256}`);
    return bytes;
  }
}
