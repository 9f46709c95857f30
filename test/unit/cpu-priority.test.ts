// niceProcess and idleProcess in a child process of their own (they change the priority of the process
// that calls them): every thread that exists changes, and threads started afterwards inherit it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const modulePath = join(fileURLToPath(new URL('.', import.meta.url)), '../../gpu-worker/src/cpu-priority.js');

const script = `
import { readdirSync, readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
const { niceProcess, idleProcess } = await import(${JSON.stringify(pathToFileURL(modulePath).href)});
const statField = (field) => readdirSync('/proc/self/task').map((tid) => {
  const stat = readFileSync('/proc/self/task/' + tid + '/stat', 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[field - 3]);
});
const niceValues = () => statField(19);
const policies = () => statField(41); // 0 SCHED_OTHER, 5 SCHED_IDLE
if (process.argv.includes('idle')) {
  const before = policies();
  idleProcess();
  const thread = new Worker('setTimeout(() => {}, 300)', { eval: true });
  await new Promise((resolve) => thread.once('online', resolve));
  console.log(JSON.stringify({ before, after: policies() }));
  await thread.terminate();
  process.exit(0);
}
const before = niceValues();
const target = Math.min(19, before[0] + 6); // relative: the test runner may itself run niced
const niced = niceProcess(target);
const thread = new Worker('setTimeout(() => {}, 300)', { eval: true });
await new Promise((resolve) => thread.once('online', resolve));
console.log(JSON.stringify({ before, target, niced, after: niceValues() }));
await thread.terminate();
`;

describe('worker CPU priority', () => {
  it('renices every thread of the process, and threads started later inherit it', { timeout: 30_000, skip: process.platform !== 'linux' && 'thread nice values are Linux-only' }, () => {
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    const { before, target, niced, after } = JSON.parse(output) as { before: number[]; target: number; niced: { threads: number; refused: string[] }; after: number[] };
    assert.ok(before.every((n) => n === before[0] && n < target), `all threads start at one nice value below ${target}: ${before}`);
    assert.deepEqual(niced.refused, []);
    assert.equal(niced.threads, before.length);
    assert.ok(after.length > before.length, 'a thread was started after');
    assert.ok(after.every((n) => n === target), `every thread, the new one included, at nice ${target}: ${after}`);
  });

  it('idleProcess puts every thread under SCHED_IDLE, and threads started later inherit it', { timeout: 30_000, skip: process.platform !== 'linux' && 'SCHED_IDLE is Linux-only' }, () => {
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script, 'idle'], { encoding: 'utf8' });
    const { before, after } = JSON.parse(output) as { before: number[]; after: number[] };
    assert.ok(before.every((p) => p === 0), `threads start under SCHED_OTHER: ${before}`);
    assert.ok(after.length > before.length, 'a thread was started after');
    assert.ok(after.every((p) => p === 5), `every thread, the new one included, under SCHED_IDLE (5): ${after}`);
  });
});
