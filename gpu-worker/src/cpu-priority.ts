// CPU priority of worker threads (Linux). Every thread is a task with its own nice value and threads
// inherit their creator's: renicing every task that exists now also covers the libuv pool, libvips and
// onnxruntime threads started later, and a model thread niced before its session covers that session's
// onnxruntime pool. Raising niceness needs no privileges.
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
