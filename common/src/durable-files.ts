// Crash-safe file writes: data is fsync'd before it becomes visible under its final name, and the
// directory entry is fsync'd so the name itself survives a power cut.
import { constants } from 'node:fs';
import { copyFile, link, open, readdir, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** fsyncs a directory, making renames, links and unlinks inside it durable. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsyncs a file's data (e.g. one another process wrote). */
export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `data` to `path` durably, never leaving a torn file under `path` (not even when the process
 * is killed mid-write): the data goes to `<path>.<pid>.tmp`, is fsync'd, then renamed over `path`
 * (exclusive = false: readers see the old or the new content) or hard-linked to it (exclusive = true:
 * fails with EEXIST when `path` exists). A crash can leave the temporary file behind; the folder's
 * owner removes it (removeStaleTemporaries).
 */
export async function writeFileDurably(path: string, data: string | Buffer, options: { exclusive?: boolean } = {}): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(data);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  if (options.exclusive) {
    try {
      await linkWithoutReplacing(temporary, path);
    } finally {
      await unlinkIfPresent(temporary);
    }
  } else await rename(temporary, path);
  await fsyncDirectory(dirname(path));
}

/** Removes the temporary files (`*.<pid>.tmp`) that writeFileDurably calls of processes no longer running left in `dir`. */
export async function removeStaleTemporaries(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(dir)) {
    const pid = Number(/\.(\d+)\.tmp$/.exec(name)?.[1] ?? NaN);
    if (!Number.isInteger(pid) || pid === process.pid || isRunning(pid)) continue;
    await unlinkIfPresent(join(dir, name));
    removed.push(name);
  }
  if (removed.length > 0) await fsyncDirectory(dir);
  return removed;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Hard link (atomic, fails with EEXIST); where hard links are impossible an exclusive copy instead (not atomic). */
export async function linkWithoutReplacing(source: string, target: string): Promise<void> {
  try {
    await link(source, target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM') throw error;
    await copyFile(source, target, constants.COPYFILE_EXCL);
    await fsyncFile(target);
  }
}

/** unlink that treats a missing file as done. */
export async function unlinkIfPresent(path: string): Promise<void> {
  await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}
