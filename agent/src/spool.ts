// The agent's durable spool: every image picked up from the hot folder is moved here before it is
// sent, and leaves only once its outcome is filed. One entry per idempotency key:
//   <sha256>.json  the header (key, sha256, station, barcode, capture time, priority, ...) and the
//                  hot-folder names that carried these bytes; written to a temp name, fsync'd, renamed
//   <sha256>.img   the image bytes: hard-linked (or copied) to a temp name, fsync'd, renamed
// Admission order: record, then image, then the hot-folder name is removed (each step fsync'd with its
// folder). A crash at any point leaves either a complete entry (resent at the next start; the
// hot-folder copy, if still there, is recognised by its key and dropped) or a record without image
// (discarded at the next start: the image is still in the hot folder).
// Bounded: an entry is admitted only while the spool holds fewer than maxImages images and the bytes
// fit in maxBytes (an image larger than maxBytes is admitted alone into an empty spool).
import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fsyncDirectory, fsyncFile, linkWithoutReplacing, unlinkIfPresent, writeFileDurably } from '../../common/src/durable-files.js';
import type { ImageHeader } from './image-header.js';

export interface SpoolRecord {
  header: ImageHeader;
  /** Hot-folder base names that carried these bytes; each is filed with the outcome. */
  names: string[];
  /** RFC 3339 time the image entered the spool. */
  spooledAt: string;
}

export interface SpoolEntry {
  record: SpoolRecord;
  /** The spooled image bytes. */
  imagePath: string;
}

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  maxImages: number;
}

export class Spool {
  private readonly entries = new Map<string, SpoolEntry>();
  private totalBytes = 0;

  constructor(private readonly options: SpoolOptions) {}

  get bytes(): number {
    return this.totalBytes;
  }

  get images(): number {
    return this.entries.size;
  }

  /** Seconds since the oldest entry was spooled (0 when empty). */
  oldestAgeSeconds(now = Date.now()): number {
    let oldest = now;
    for (const { record } of this.entries.values()) oldest = Math.min(oldest, Date.parse(record.spooledAt));
    return (now - oldest) / 1000;
  }

  get(key: string): SpoolEntry | undefined {
    return this.entries.get(key);
  }

  /** True when an image of `bytes` may be admitted now. */
  hasRoomFor(bytes: number): boolean {
    if (this.entries.size === 0) return true;
    return this.entries.size < this.options.maxImages && this.totalBytes + bytes <= this.options.maxBytes;
  }

  /**
   * Loads the entries a previous run left (oldest first) and removes leftovers of interrupted
   * admissions. An image without a record (only a manual cleanup makes one) is left untouched.
   */
  async open(): Promise<SpoolEntry[]> {
    const { dir } = this.options;
    await mkdir(dir, { recursive: true });
    const names = await readdir(dir);
    for (const name of names.filter((n) => n.endsWith('.tmp'))) await unlinkIfPresent(join(dir, name));
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const id = name.slice(0, -'.json'.length);
      const imagePath = join(dir, `${id}.img`);
      let record: SpoolRecord;
      try {
        record = JSON.parse(await readFile(join(dir, name), 'utf8')) as SpoolRecord;
      } catch {
        await unlinkIfPresent(join(dir, name));
        continue;
      }
      if (!names.includes(`${id}.img`)) {
        await unlinkIfPresent(join(dir, name));
        continue;
      }
      this.track({ record, imagePath });
    }
    await fsyncDirectory(dir);
    return [...this.entries.values()].sort((a, b) => a.record.spooledAt.localeCompare(b.record.spooledAt));
  }

  /**
   * Links the hot-folder file at `hotPath` (already hashed into `header`) into the spool, durably. The
   * entry counts from then on; the caller then takes the file out of the hot folder (removeHotFile).
   */
  async admit(header: ImageHeader, hotPath: string, now = new Date()): Promise<SpoolEntry> {
    const { dir } = this.options;
    const id = header.sha256;
    const record: SpoolRecord = { header, names: [basename(hotPath)], spooledAt: now.toISOString() };
    const imagePath = join(dir, `${id}.img`);
    await writeFileDurably(join(dir, `${id}.json`), JSON.stringify(record));
    const temporary = `${imagePath}.tmp`;
    await unlinkIfPresent(temporary);
    await linkWithoutReplacing(hotPath, temporary);
    await fsyncFile(temporary);
    await rename(temporary, imagePath);
    await fsyncDirectory(dir);
    const entry = { record, imagePath };
    this.track(entry);
    return entry;
  }

  /** Another hot-folder file with the same bytes: remember its name too (the caller then removes the hot file). */
  async addName(entry: SpoolEntry, hotPath: string): Promise<void> {
    const name = basename(hotPath);
    if (!entry.record.names.includes(name)) {
      entry.record.names.push(name);
      await writeFileDurably(join(this.options.dir, `${entry.record.header.sha256}.json`), JSON.stringify(entry.record));
    }
  }

  /** The outcome is filed: the entry leaves the spool (image first, so a crash never leaves an image without record). */
  async remove(entry: SpoolEntry): Promise<void> {
    const { dir } = this.options;
    await unlinkIfPresent(entry.imagePath);
    await unlinkIfPresent(join(dir, `${entry.record.header.sha256}.json`));
    await fsyncDirectory(dir);
    if (this.entries.delete(entry.record.header.idempotencyKey)) this.totalBytes -= entry.record.header.sizeBytes;
  }

  private track(entry: SpoolEntry): void {
    const key = entry.record.header.idempotencyKey;
    if (this.entries.has(key)) return;
    this.entries.set(key, entry);
    this.totalBytes += entry.record.header.sizeBytes;
  }

  /** Takes a spooled file out of the hot folder; one already gone (moved by the conveyor's software) is fine. */
  async removeHotFile(hotPath: string): Promise<void> {
    await unlinkIfPresent(hotPath);
    await fsyncDirectory(dirname(hotPath));
  }
}
