// CPU priority of worker threads (Linux): niceness, or the SCHED_IDLE policy. Every thread is a task
// with its own nice value and policy, and threads inherit their creator's: changing every task that
// exists now also covers the libuv pool, libvips and onnxruntime threads started later, and a model
// thread niced before its session covers that session's onnxruntime pool. Neither needs privileges.
import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

export interface NicedProcess {
  /** Threads reniced. */
  threads: number;
  /** Threads the OS refused (e.g. already nicer without the privilege to lower it), or 'not linux'. */
  refused: string[];
}

export function niceProcess(niceness: number): NicedProcess {
  if (process.platform !== 'linux') return { threads: 0, refused: ['not linux'] };
  const result: NicedProcess = { threads: 0, refused: [] };
  for (const task of readdirSync('/proc/self/task')) {
    try {
      setPriority(Number(task), niceness);
      result.threads++;
    } catch (error) {
      result.refused.push(`${task}: ${(error as Error).message}`);
    }
  }
  return result;
}

/** Lowers the calling thread's priority (Linux: a thread is a task with its own nice value, inherited by threads it creates). */
export function niceCurrentThread(niceness: number): boolean {
  if (niceness <= 0 || process.platform !== 'linux') return false;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    setPriority(tid, niceness);
    return true;
  } catch {
    return false;
  }
}

/**
 * Linux: puts every thread of the process under SCHED_IDLE (util-linux `chrt`; Node has no
 * sched_setscheduler), and threads started later inherit it. Such threads run only on CPU time that no
 * normal thread wants, which niceness (even 19 keeps ~1.5 % of a contended core) does not promise. Moving
 * to SCHED_IDLE needs no privileges. Throws a message naming the cause when it fails.
 */
export function idleProcess(): void {
  if (process.platform !== 'linux') throw new Error('idle scheduling is Linux-only');
  try {
    execFileSync('chrt', ['--idle', '--all-tasks', '--pid', '0', String(process.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const cause = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'chrt (util-linux) is not installed'
      : ((error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message);
    throw new Error(`could not put the worker under SCHED_IDLE: ${cause}`);
  }
}
