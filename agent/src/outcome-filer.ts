// Files an image once its outcome is final: into doneDir with <name>.verdict.json, or into
// rejectedDir with <name>.reason.json. The sidecar is written first (exclusive create), then the
// image is hard-linked in (never replaces an existing file) and unlinked from the hot folder, so a
// crash leaves the image in the hot folder to be resent, never a filed image without its outcome.
// Name collisions get a numbered name: QS1.jpg, QS1~1.jpg, QS1~2.jpg ...
import { copyFile, constants, link, mkdir, unlink, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';

export interface RejectionRecord {
  code: string;
  reason: string;
  /** RFC 3339 time the rejection was filed. */
  at: string;
}

const errnoCode = (error: unknown) => (error as NodeJS.ErrnoException).code;

export class OutcomeFiler {
  constructor(private readonly dirs: { doneDir: string; rejectedDir: string }) {}

  async prepare(): Promise<void> {
    await mkdir(this.dirs.doneDir, { recursive: true });
    await mkdir(this.dirs.rejectedDir, { recursive: true });
  }

  /** Moves `path` into doneDir beside `<name>.verdict.json`; returns the filed image's path. */
  fileVerdict(path: string, verdict: object): Promise<string> {
    return this.fileInto(this.dirs.doneDir, path, '.verdict.json', verdict);
  }

  /** Moves `path` into rejectedDir beside `<name>.reason.json`; returns the filed image's path. */
  fileRejection(path: string, rejection: { code: string; reason: string }, at = new Date()): Promise<string> {
    const record: RejectionRecord = { code: rejection.code, reason: rejection.reason, at: at.toISOString() };
    return this.fileInto(this.dirs.rejectedDir, path, '.reason.json', record);
  }

  private async fileInto(dir: string, path: string, sidecarSuffix: string, content: object): Promise<string> {
    const json = `${JSON.stringify(content, null, 2)}\n`;
    const name = basename(path);
    const extension = extname(name);
    const stem = name.slice(0, name.length - extension.length);
    for (let n = 0; ; n += 1) {
      const target = join(dir, n === 0 ? name : `${stem}~${n}${extension}`);
      const sidecar = target + sidecarSuffix;
      try {
        await writeFile(sidecar, json, { flag: 'wx' });
      } catch (error) {
        if (errnoCode(error) === 'EEXIST') continue;
        throw error;
      }
      try {
        await linkWithoutReplacing(path, target);
      } catch (error) {
        await unlink(sidecar);
        if (errnoCode(error) === 'EEXIST') continue;
        throw error;
      }
      await unlink(path);
      return target;
    }
  }
}

/** Hard link (atomic, fails with EEXIST); across file systems an exclusive copy instead. */
async function linkWithoutReplacing(source: string, target: string): Promise<void> {
  try {
    await link(source, target);
  } catch (error) {
    if (errnoCode(error) !== 'EXDEV' && errnoCode(error) !== 'EPERM') throw error;
    await copyFile(source, target, constants.COPYFILE_EXCL);
  }
}
