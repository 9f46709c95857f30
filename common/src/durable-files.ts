// Crash-safe file writes: data is fsync'd before it becomes visible under its final name, and the
// directory entry is fsync'd so the name itself survives a power cut.
import { constants } from 'node:fs';
import { copyFile, link, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

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
 * Writes `data` to `path` durably. With exclusive = false the file is written under a temporary
 * name and renamed over `path` (readers see the old or the new content, never a torn one); with
 * exclusive = true it is created in place and fails with EEXIST when `path` exists.
 */
export async function writeFileDurably(path: string, data: string | Buffer, options: { exclusive?: boolean } = {}): Promise<void> {
  const target = options.exclusive ? path : `${path}.${process.pid}.tmp`;
  const handle = await open(target, options.exclusive ? 'wx' : 'w');
  try {
    await handle.writeFile(data);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  if (!options.exclusive) await rename(target, path);
  await fsyncDirectory(dirname(path));
}

/** Hard link (atomic, fails with EEXIST); across file systems an exclusive copy instead. */
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
