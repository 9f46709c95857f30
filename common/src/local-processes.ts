// Runs Quicksilver processes (the `quicksilver` CLI) as children on this machine, for the demo and
// the benchmark: free ports, readiness via /readyz, logs to files, ordered graceful stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SERVICE_NODE_FLAGS } from './node-flags.js';
import { cliEntry, repoRoot } from './paths.js';

/** A free TCP port on 127.0.0.1 (the preferred one when it is free). */
export async function freePort(preferred = 0): Promise<number> {
  const tryPort = (port: number) => new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : port));
    });
  });
  if (preferred) {
    try {
      return await tryPort(preferred);
    } catch {
      // taken: any free port
    }
  }
  return tryPort(0);
}

export interface RunningProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
}

export interface StartOptions {
  /** Receives the process's stdout, line by line (otherwise ignored). */
  onLine?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Run on these cores only (Linux, taskset). */
  cores?: readonly number[];
}

export class LocalProcesses {
  private readonly running: RunningProcess[] = [];

  constructor(private readonly logDir: string) {
    mkdirSync(logDir, { recursive: true });
  }

  /**
   * Starts `quicksilver <args>`; stderr (JSON logs) goes to <logDir>/<name>.log; stdout lines to onLine
   * when given. With `cores`, the process runs on those cores only (started under util-linux `taskset`,
   * so its thread pools see them as all the cores there are).
   */
  start(name: string, args: string[], options: StartOptions = {}): RunningProcess {
    const { onLine, env = process.env, cores } = options;
    const logFile = join(this.logDir, `${name}.log`);
    const command = [process.execPath, ...SERVICE_NODE_FLAGS, cliEntry(), ...args];
    if (cores?.length) command.unshift('taskset', '--cpu-list', cores.join(','));
    const child = spawn(command[0]!, command.slice(1), { cwd: repoRoot(), env, stdio: ['ignore', onLine ? 'pipe' : 'ignore', 'pipe'] });
    child.stderr!.pipe(createWriteStream(logFile));
    if (onLine) createInterface({ input: child.stdout! }).on('line', onLine);
    const running = { name, child, logFile };
    this.running.push(running);
    return running;
  }

  /** Waits until `url` answers 200 (e.g. http://127.0.0.1:PORT/readyz), failing early if the process exits. */
  async waitReady(process: RunningProcess, url: string, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (process.child.exitCode !== null) throw new Error(`${process.name} exited with code ${process.child.exitCode}; see ${process.logFile}`);
      try {
        if ((await fetch(url)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${process.name} not ready after ${timeoutMs / 1000} s; see ${process.logFile}`);
  }

  /** SIGTERM (then SIGKILL after graceMs) to one process. */
  async stop(process: RunningProcess, graceMs = 20_000): Promise<void> {
    const index = this.running.indexOf(process);
    if (index >= 0) this.running.splice(index, 1);
    await stopChild(process.child, graceMs);
  }

  /** SIGTERM (then SIGKILL after graceMs) to every process, newest first, in parallel. */
  async stopAll(graceMs = 20_000): Promise<void> {
    const all = this.running.splice(0).reverse();
    await Promise.all(all.map(({ child }) => stopChild(child, graceMs)));
  }
}

export async function stopChild(child: ChildProcess, graceMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
