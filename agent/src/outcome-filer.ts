// Files an image once its outcome is final: into doneDir with <name>.verdict.json, or into
// rejectedDir with <name>.reason.json. The sidecar is written first (complete and fsync'd before its
// name appears, never replacing one), then the image is hard-linked in (never replaces an existing
// file) and the folder fsync'd; only then is the source removed (unless keepSource). A crash leaves
// the source to be filed again, never a filed image without its outcome. Filing is idempotent per
// idempotency key: a sidecar already holding the same key means "already filed" (the crash came after
// it), so a retry never files a second copy.
// Name collisions get a numbered name: QS1.jpg, QS1~1.jpg, QS1~2.jpg ...
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { fsyncDirectory, linkWithoutReplacing, removeStaleTemporaries, writeFileDurably } from '../../common/src/durable-files.js';

export interface RejectionRecord {
  code: string;
  reason: string;
  /** RFC 3339 time the rejection was filed. */
  at: string;
  /** The image's key; absent for files never uploaded (e.g. unsupported extensions). */
  idempotencyKey?: string;
}

export interface FileOptions {
  /** Name to file under (default: the source's base name). */
  name?: string;
  /** Leave the source in place (it is filed under several names, or its owner removes it). */
  keepSource?: boolean;
}

const errnoCode = (error: unknown) => (error as NodeJS.ErrnoException).code;

export class OutcomeFiler {
  constructor(private readonly dirs: { doneDir: string; rejectedDir: string }) {}

  /** Creates the folders and removes temporary files an interrupted filing left there. */
  async prepare(): Promise<void> {
    for (const dir of [this.dirs.doneDir, this.dirs.rejectedDir]) {
      await mkdir(dir, { recursive: true });
      await removeStaleTemporaries(dir);
    }
  }

  /** Files `path` into doneDir beside `<name>.verdict.json`; returns the filed image's path. */
  fileVerdict(path: string, verdict: object, options: FileOptions = {}): Promise<string> {
    return this.fileInto(this.dirs.doneDir, path, '.verdict.json', verdict, options);
  }

  /** Files `path` into rejectedDir beside `<name>.reason.json`; returns the filed image's path. */
  fileRejection(path: string, rejection: { code: string; reason: string; idempotencyKey?: string }, at = new Date(), options: FileOptions = {}): Promise<string> {
    const record: RejectionRecord = { code: rejection.code, reason: rejection.reason, at: at.toISOString() };
    if (rejection.idempotencyKey) record.idempotencyKey = rejection.idempotencyKey;
    return this.fileInto(this.dirs.rejectedDir, path, '.reason.json', record, options);
  }

  private async fileInto(dir: string, path: string, sidecarSuffix: string, content: object, options: FileOptions): Promise<string> {
    const json = `${JSON.stringify(content, null, 2)}\n`;
    const key = (content as { idempotencyKey?: unknown }).idempotencyKey;
    const name = options.name ?? basename(path);
    const extension = extname(name);
    const stem = name.slice(0, name.length - extension.length);
    for (let n = 0; ; n += 1) {
      const target = join(dir, n === 0 ? name : `${stem}~${n}${extension}`);
      const sidecar = target + sidecarSuffix;
      try {
        await writeFileDurably(sidecar, json, { exclusive: true });
      } catch (error) {
        if (errnoCode(error) !== 'EEXIST') throw error;
        if (typeof key === 'string' && key && (await sidecarKey(sidecar)) === key) {
          await linkWithoutReplacing(path, target).catch((linkError: unknown) => {
            if (errnoCode(linkError) !== 'EEXIST') throw linkError;
          });
          await fsyncDirectory(dir);
          if (!options.keepSource) await unlink(path);
          return target;
        }
        continue;
      }
      try {
        await linkWithoutReplacing(path, target);
      } catch (error) {
        await unlink(sidecar);
        if (errnoCode(error) === 'EEXIST') continue;
        throw error;
      }
      await fsyncDirectory(dir);
      if (!options.keepSource) await unlink(path);
      return target;
    }
  }
}

async function sidecarKey(sidecar: string): Promise<string | undefined> {
  try {
    return (JSON.parse(await readFile(sidecar, 'utf8')) as { idempotencyKey?: string }).idempotencyKey;
  } catch {
    return undefined;
  }
}
