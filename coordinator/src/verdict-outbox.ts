// Durable, bounded outbox for verdicts NATS could not take. Contract:
// - deliver(event) resolves only once the verdict is either acknowledged by JetStream or appended
//   to <dir>/verdicts.jsonl and fsync'd; only then may the agent be answered. It throws OVERLOADED
//   (retryable) when the outbox holds maxBytes, so a verdict is never dropped.
// - While the outbox holds anything, new verdicts are appended behind it; a drainer publishes the
//   entries in append order whenever the publisher is available, retrying with jittered backoff.
// - <dir>/cursor.json records how far the log has been published; a stale cursor after a crash
//   only re-publishes entries that JetStream then drops by message id (within its duplicate window).
//   A cursor may lag the log but never run ahead of it: before the log is emptied, a cursor of 0 is
//   made durable, and a cursor found beyond the log's end or off a line boundary is reset (and that
//   reset made durable) before anything new is appended, so later entries are never skipped.
// - A torn last line (crash mid-append) is cut off at start; the agent had not been answered for it.
// - One outbox folder belongs to one coordinator: <dir>/lock holds the owner's pid (a dead owner's lock is taken over).
import { mkdir, open, readFile, rename, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Counter, Gauge } from 'prom-client';
import { QuicksilverError } from '../../common/src/errors.js';
import { removeStaleTemporaries, writeFileDurably } from '../../common/src/durable-files.js';
import type { Logger } from '../../common/src/logger.js';
import type { VerdictEvent, VerdictPublisher } from '../../common/src/verdict-event.js';

/** A publisher that can say cheaply whether a publish has a chance (connected, stream ready). */
export interface AvailablePublisher extends VerdictPublisher {
  readonly available: boolean;
}

export interface VerdictOutboxOptions {
  dir: string;
  /** Bytes of unpublished verdicts the outbox may hold. */
  maxBytes: number;
  publisher: AvailablePublisher;
  logger: Logger;
  metrics: { depth: Gauge; bytes: Gauge; publishFailures: Counter };
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
}

interface Entry {
  event: VerdictEvent;
  bytes: number;
}

const LOG_FILE = 'verdicts.jsonl';
const CURSOR_FILE = 'cursor.json';
const LOCK_FILE = 'lock';

export class VerdictOutbox {
  private readonly entries: Entry[] = [];
  private pendingBytes = 0;
  /** Bytes of the log file, and how many of them are published. */
  private fileBytes = 0;
  private publishedBytes = 0;
  private log: FileHandle | undefined;
  /** Appends, cursor writes and compaction run one at a time, in order. */
  private fileOps: Promise<unknown> = Promise.resolve();
  private draining: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: VerdictOutboxOptions) {}

  get depth(): number {
    return this.entries.length;
  }

  get isFull(): boolean {
    return this.pendingBytes >= this.options.maxBytes;
  }

  /** Loads unpublished entries left by a previous run and starts draining them. */
  async start(): Promise<void> {
    const { dir, logger } = this.options;
    await mkdir(dir, { recursive: true });
    await this.lock();
    await removeStaleTemporaries(dir);
    const path = join(dir, LOG_FILE);
    const content = await readFile(path).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? Buffer.alloc(0) : Promise.reject(error)));
    const cursor = await readFile(join(dir, CURSOR_FILE), 'utf8').then((text) => Number(JSON.parse(text).publishedBytes) || 0, () => 0);
    const complete = content.lastIndexOf(0x0a) + 1;
    if (complete < content.length) logger.warn({ tornBytes: content.length - complete }, 'outbox: cut off a partly written last entry');
    // A cursor past the end, or not just after a line, does not describe this log: publish it all again.
    const cursorFits = cursor === 0 || (cursor <= complete && content[cursor - 1] === 0x0a);
    if (!cursorFits) logger.warn({ cursor, logBytes: complete }, 'outbox: the saved cursor does not fit the log; republishing it from the start');
    this.publishedBytes = cursorFits ? cursor : 0;
    let offset = this.publishedBytes;
    while (offset < complete) {
      const end = content.indexOf(0x0a, offset) + 1;
      try {
        this.push({ event: JSON.parse(content.subarray(offset, end).toString('utf8')) as VerdictEvent, bytes: end - offset });
      } catch {
        logger.error({ offset }, 'outbox: unreadable entry skipped');
      }
      offset = end;
    }
    this.log = await open(path, 'a+');
    if (complete < content.length) await this.log.truncate(complete);
    this.fileBytes = complete;
    if (!cursorFits) await this.writeCursor(true);
    this.updateMetrics();
    if (this.entries.length > 0) logger.warn({ depth: this.entries.length, bytes: this.pendingBytes }, 'outbox: unpublished verdicts from a previous run; publishing them when NATS is available');
    this.draining = this.drainLoop();
  }

  /**
   * Publishes the verdict, or stores it durably for later. Resolves 'published' or 'queued';
   * throws OVERLOADED when the outbox is full.
   */
  async deliver(event: VerdictEvent): Promise<'published' | 'queued'> {
    if (this.stopped) throw new QuicksilverError('SHUTTING_DOWN', 'the verdict outbox is closed');
    const { publisher, metrics, logger } = this.options;
    if (this.pendingBytes === 0 && publisher.available) {
      try {
        await publisher.publish(event);
        return 'published';
      } catch (error) {
        metrics.publishFailures.inc();
        logger.warn({ key: event.idempotencyKey, err: (error as Error).message }, 'verdict publication failed: keeping it in the outbox');
      }
    }
    await this.append(event);
    return 'queued';
  }

  /** Called when the publisher becomes available again (e.g. NATS reconnected). */
  kick(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.wake?.();
  }

  /** Publishes what it can until `signal` aborts; the rest stays on disk for the next start. */
  async stop(signal: AbortSignal): Promise<void> {
    if (this.stopped) return;
    while (this.entries.length > 0 && this.options.publisher.available && !signal.aborted) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    this.stopped = true;
    this.kick();
    await this.draining;
    await this.fileOps;
    if (this.entries.length > 0) this.options.logger.warn({ depth: this.entries.length }, 'outbox: unpublished verdicts kept on disk for the next start');
    await this.log?.close();
    this.log = undefined;
    await unlink(join(this.options.dir, LOCK_FILE)).catch(() => undefined);
  }

  private async lock(): Promise<void> {
    const path = join(this.options.dir, LOCK_FILE);
    for (;;) {
      try {
        await writeFile(path, String(process.pid), { flag: 'wx' });
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const owner = Number(await readFile(path, 'utf8').catch(() => ''));
      if (owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new QuicksilverError('CONFIG_INVALID', `the outbox folder ${this.options.dir} is in use by process ${owner}; give each coordinator its own outboxDir`);
      }
      await unlink(path).catch(() => undefined); // left by a coordinator that died: take it over
    }
  }

  private async append(event: VerdictEvent): Promise<void> {
    const line = Buffer.from(`${JSON.stringify(event)}\n`);
    if (this.pendingBytes + line.length > this.options.maxBytes) {
      throw new QuicksilverError('OVERLOADED', `the verdict outbox is full (${this.options.maxBytes} bytes waiting for NATS); retry later`);
    }
    // Reserve the room now so concurrent appends respect the bound.
    this.pendingBytes += line.length;
    try {
      await this.serialized(async () => {
        await this.log!.write(line, 0, line.length, null);
        await this.log!.datasync();
        this.fileBytes += line.length;
      });
    } catch (error) {
      this.pendingBytes -= line.length;
      throw new QuicksilverError('UNAVAILABLE', `cannot write the verdict outbox: ${(error as Error).message}`, { cause: error });
    }
    this.pendingBytes -= line.length;
    this.push({ event, bytes: line.length });
    this.updateMetrics();
    this.kick();
  }

  private push(entry: Entry): void {
    this.entries.push(entry);
    this.pendingBytes += entry.bytes;
  }

  private async drainLoop(): Promise<void> {
    const { publisher, metrics, logger, retryBaseDelayMs = 500, retryMaxDelayMs = 10_000 } = this.options;
    let failures = 0;
    while (!this.stopped) {
      const head = this.entries[0];
      if (!head || !publisher.available) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      try {
        await publisher.publish(head.event);
      } catch (error) {
        metrics.publishFailures.inc();
        const delayMs = Math.min(retryMaxDelayMs, retryBaseDelayMs * 2 ** failures++) * (0.5 + Math.random() / 2);
        logger.warn({ key: head.event.idempotencyKey, depth: this.entries.length, err: (error as Error).message, retryInMs: Math.round(delayMs) }, 'outbox: publication failed');
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          this.retryTimer = setTimeout(resolve, delayMs);
        });
        continue;
      }
      failures = 0;
      this.entries.shift();
      this.pendingBytes -= head.bytes;
      this.publishedBytes += head.bytes;
      this.updateMetrics();
      if (this.entries.length === 0) logger.info('outbox: every stored verdict is published');
      await this.serialized(() => this.saveCursor());
    }
  }

  /**
   * Records progress; once everything is published the log is emptied (compaction). The cursor 0 is
   * durable before the log is cut: a crash in between republishes the log (dropped by message id)
   * instead of leaving a cursor that a log growing again would seem to fit.
   */
  private async saveCursor(): Promise<void> {
    if (this.publishedBytes === this.fileBytes && this.fileBytes > 0) {
      this.publishedBytes = 0;
      await this.writeCursor(true);
      await this.log!.truncate(0);
      await this.log!.sync();
      this.fileBytes = 0;
      return;
    }
    await this.writeCursor(false);
  }

  /** Writes the cursor (renamed into place); `durable` also fsyncs it and the folder (a lagging cursor only republishes). */
  private async writeCursor(durable: boolean): Promise<void> {
    const path = join(this.options.dir, CURSOR_FILE);
    const content = JSON.stringify({ publishedBytes: this.publishedBytes });
    if (durable) {
      await writeFileDurably(path, content);
      return;
    }
    await writeFile(`${path}.tmp`, content);
    await rename(`${path}.tmp`, path);
  }

  private serialized<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.fileOps.then(operation);
    this.fileOps = result.catch(() => undefined);
    return result;
  }

  private updateMetrics(): void {
    this.options.metrics.depth.set(this.entries.length);
    this.options.metrics.bytes.set(this.pendingBytes);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
