// Watches the conveyor's hot folder (depth 0) and emits each file once it is complete: its size has
// not changed for stabilityThresholdMs. chokidar's awaitWriteFinish covers files that appear while
// running; files already present at start (which chokidar reports before 'ready', unchecked) get
// the same stability wait here. Dotfiles, temporary names and the excluded folders are ignored.
import { watch, type FSWatcher } from 'chokidar';
import { EventEmitter } from 'node:events';
import { stat } from 'node:fs/promises';
import { basename, resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface HotFolderOptions {
  dir: string;
  stabilityThresholdMs: number;
  pollIntervalMs: number;
  /** Folders never reported (the agent's done/ and rejected/). */
  exclude: string[];
}

/** Names a writer uses while a file is incomplete, and hidden files. */
const TEMPORARY_NAME = /^\.|\.(part|partial|tmp|temp|crdownload|download|swp)$|~$/i;

export function isTemporaryName(fileName: string): boolean {
  return TEMPORARY_NAME.test(fileName);
}

export class HotFolder extends EventEmitter<{ file: [path: string]; error: [error: Error] }> {
  private watcher: FSWatcher | undefined;
  private readonly stopping = new AbortController();

  constructor(private readonly options: HotFolderOptions) {
    super();
  }

  /** Starts watching; resolves once the initial scan is done. */
  async start(): Promise<void> {
    const dir = resolve(this.options.dir);
    const excluded = this.options.exclude.map((path) => resolve(path));
    const ignored = (path: string): boolean =>
      path !== dir && (isTemporaryName(basename(path)) || excluded.some((folder) => path === folder || path.startsWith(folder + sep)));
    let ready = false;
    const watcher = watch(dir, {
      depth: 0,
      ignored,
      awaitWriteFinish: { stabilityThreshold: this.options.stabilityThresholdMs, pollInterval: this.options.pollIntervalMs },
    });
    this.watcher = watcher;
    watcher.on('add', (path) => {
      if (ready) this.emit('file', path);
      else void this.emitWhenStable(path);
    });
    watcher.on('error', (error) => this.emit('error', error as Error));
    await new Promise<void>((resolveReady) => watcher.once('ready', resolveReady));
    ready = true;
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    const watcher = this.watcher;
    this.watcher = undefined;
    await watcher?.close();
  }

  /** Waits until the file's size and mtime have held still for the stability threshold. */
  private async emitWhenStable(path: string): Promise<void> {
    const { stabilityThresholdMs, pollIntervalMs } = this.options;
    try {
      let previous = await stat(path);
      let stableSince = Math.min(previous.mtimeMs, Date.now());
      while (Date.now() - stableSince < stabilityThresholdMs) {
        await sleep(pollIntervalMs, undefined, { signal: this.stopping.signal });
        const current = await stat(path);
        if (current.size !== previous.size || current.mtimeMs !== previous.mtimeMs) stableSince = Date.now();
        previous = current;
      }
      this.emit('file', path);
    } catch (error) {
      if (this.stopping.signal.aborted || (error as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.emit('error', error as Error);
    }
  }
}
