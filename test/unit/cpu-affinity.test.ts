import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { allowedCores, parseCpuList, pinProcess, tasksetAvailable } from '../../bench/cpu-affinity.js';
import { processCpuSeconds } from '../../bench/process-cpu.js';

describe('bench CPU affinity', () => {
  it('parses Linux CPU lists and refuses malformed ones', () => {
    assert.deepEqual(parseCpuList('0-3,8\n'), [0, 1, 2, 3, 8]);
    assert.deepEqual(parseCpuList('5'), [5]);
    assert.throws(() => parseCpuList('3-1'), /not a CPU list/);
    assert.throws(() => parseCpuList('a'), /not a CPU list/);
  });

  it('reads this process\'s cores and pins every thread of another process', { skip: !tasksetAvailable() && 'util-linux taskset missing', timeout: 10_000 }, async () => {
    const cores = allowedCores();
    assert.equal(cores.length, availableParallelism());
    const child = spawn(process.execPath, ['-e', 'console.log("up"); setTimeout(() => {}, 20000)'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise((resolve) => child.stdout.once('data', resolve)); // started: V8's platform threads run
      const last = cores.at(-1)!;
      pinProcess(child.pid!, [last]);
      const taskDir = `/proc/${child.pid}/task`;
      const threads = readFileSync(`/proc/${child.pid}/status`, 'utf8').match(/^Threads:\s*(\d+)/m)![1];
      assert.ok(Number(threads) > 1, 'node runs several threads');
      for (const tid of readdirSync(taskDir)) {
        assert.match(readFileSync(`${taskDir}/${tid}/status`, 'utf8'), new RegExp(`^Cpus_allowed_list:\\s*${last}$`, 'm'), `thread ${tid}`);
      }
      assert.throws(() => pinProcess(child.pid!, [9999]), /could not pin/);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('processCpuSeconds (bench)', { timeout: 10_000 }, () => {
  it('reads a process\'s CPU time from /proc, growing as it computes; NaN for no such process', () => {
    const before = processCpuSeconds(process.pid);
    const until = performance.now() + 200;
    let spin = 0;
    while (performance.now() < until) spin++;
    const after = processCpuSeconds(process.pid);
    assert.ok(spin > 0 && after - before >= 0.1, `about 0.2 s of CPU counted (got ${after - before} s)`);
    assert.ok(Number.isNaN(processCpuSeconds(2 ** 22 + 1)), 'NaN for a pid that does not exist');
  });
});
