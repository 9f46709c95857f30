import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { HotFolder, isTemporaryName } from '../../agent/src/hot-folder.js';

interface Emitted {
  name: string;
  at: number;
  size: number;
}

describe('HotFolder', { timeout: 20_000 }, () => {
  let dir: string;
  let folder: HotFolder | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agent-hot-'));
  });
  afterEach(async () => {
    await folder?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts a HotFolder and records every emitted file with the time and size when emitted. */
  async function watchFolder(stabilityThresholdMs: number): Promise<{ emitted: Emitted[]; next: (name: string) => Promise<Emitted> }> {
    const emitted: Emitted[] = [];
    const waiters = new Map<string, (e: Emitted) => void>();
    folder = new HotFolder({ dir, stabilityThresholdMs, pollIntervalMs: 25, exclude: [join(dir, 'done'), join(dir, 'rejected')] });
    folder.on('file', (path) => {
      void stat(path).then(({ size }) => {
        const entry = { name: basename(path), at: Date.now(), size };
        emitted.push(entry);
        waiters.get(entry.name)?.(entry);
      });
    });
    await folder.start();
    const next = (name: string) =>
      new Promise<Emitted>((resolve) => {
        const seen = emitted.find((e) => e.name === name);
        if (seen) resolve(seen);
        else waiters.set(name, resolve);
      });
    return { emitted, next };
  }

  it('emits a file written in slow appends once, after the last append', async () => {
    const { emitted, next } = await watchFolder(300);
    const path = join(dir, 'QS00000001.jpg');
    const arrived = next('QS00000001.jpg');
    await writeFile(path, Buffer.alloc(1000, 1));
    for (let i = 0; i < 5; i += 1) {
      await sleep(120); // each pause is shorter than the stability threshold
      await appendFile(path, Buffer.alloc(1000, 2));
    }
    const lastAppendAt = Date.now();
    const entry = await arrived;
    assert.equal(entry.size, 6000, 'emitted complete');
    assert.ok(entry.at - lastAppendAt >= 250, `emitted ${entry.at - lastAppendAt} ms after the last append`);
    await sleep(500);
    assert.equal(emitted.filter((e) => e.name === 'QS00000001.jpg').length, 1, 'emitted exactly once');
  });

  it('ignores dotfiles, temporary names and the done/rejected subfolders', async () => {
    await mkdir(join(dir, 'done'));
    const { emitted, next } = await watchFolder(100);
    await writeFile(join(dir, '.hidden.jpg'), 'x');
    await writeFile(join(dir, 'QS00000002.jpg.part'), 'x');
    await writeFile(join(dir, 'QS00000003.tmp'), 'x');
    await writeFile(join(dir, 'done', 'QS00000004.jpg'), 'x');
    const marker = next('QS00000005.jpg');
    await writeFile(join(dir, 'QS00000005.jpg'), 'x');
    await marker;
    await sleep(300);
    assert.deepEqual(emitted.map((e) => e.name), ['QS00000005.jpg']);
  });

  it('emits files already present at start, waiting for one that is still growing', async () => {
    await writeFile(join(dir, 'old.jpg'), Buffer.alloc(10));
    const growing = join(dir, 'growing.jpg');
    await writeFile(growing, Buffer.alloc(10));
    const stillWriting = (async () => {
      for (let i = 0; i < 4; i += 1) {
        await sleep(100);
        await appendFile(growing, Buffer.alloc(10));
      }
      return Date.now();
    })();
    const { next } = await watchFolder(300);
    const [old, grown, lastAppendAt] = await Promise.all([next('old.jpg'), next('growing.jpg'), stillWriting]);
    assert.equal(old.size, 10);
    assert.equal(grown.size, 50, 'the growing file is emitted complete');
    assert.ok(grown.at - lastAppendAt >= 250, `emitted ${grown.at - lastAppendAt} ms after the last append`);
  });

  it('recognizes temporary names', () => {
    for (const name of ['.x.jpg', 'a.jpg.part', 'a.TMP', 'a.jpg~', 'a.crdownload']) assert.ok(isTemporaryName(name), name);
    for (const name of ['QS1.jpg', 'scan.tiff', 'partial.png']) assert.ok(!isTemporaryName(name), name);
  });
});
