// CPU affinity for the bench's isolated-worker phase, with util-linux `taskset` (Linux only): which
// cores this process may use, and pinning other processes (every thread) to a subset of them.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The cores this process may run on, from /proc/self/status; empty off Linux. */
export function allowedCores(): number[] {
  let status: string;
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return [];
  }
  return parseCpuList(/^Cpus_allowed_list:\s*(.+)$/m.exec(status)?.[1] ?? '');
}

/** A Linux CPU list ("0-3,8") as core numbers ([0, 1, 2, 3, 8]). */
export function parseCpuList(list: string): number[] {
  return list.trim().split(',').filter(Boolean).flatMap((range) => {
    const [from, to = from] = range.split('-').map(Number) as [number, number?];
    if (!Number.isInteger(from) || !Number.isInteger(to) || to! < from) throw new Error(`not a CPU list: "${list}"`);
    return Array.from({ length: to! - from + 1 }, (_, i) => from + i);
  });
}

export function tasksetAvailable(): boolean {
  return spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Pins every thread of process `pid` to `cores`; threads it creates later inherit the affinity. */
export function pinProcess(pid: number, cores: number[]): void {
  const run = spawnSync('taskset', ['--all-tasks', '--pid', '--cpu-list', cores.join(','), String(pid)], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`taskset could not pin process ${pid} to cores ${cores.join(',')}: ${run.stderr || run.error?.message}`);
}
