// writeFileDurably under SIGKILL: a child process writes large files in a loop and is killed at
// random moments; no file under its final name may be torn, and removeStaleTemporaries clears what
// the dead writer left without touching the temporaries of live processes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { removeStaleTemporaries, writeFileDurably } from '../../common/src/durable-files.js';

const modulePath = join(fileURLToPath(new URL('.', import.meta.url)), '../../common/src/durable-files.js');
const FILE_BYTES = 4 * 1024 * 1024;

/** Writes f<first>.json, f<first+1>.json ... (FILE_BYTES each, exclusive) until killed; prints "writing" once started. */
const writerScript = (dir: string, first: number) => `
const { writeFileDurably } = await import(${JSON.stringify(pathToFileURL(modulePath).href)});
const data = Buffer.alloc(${FILE_BYTES}, 120);
console.log('writing');
for (let i = ${first}; ; i++) await writeFileDurably(${JSON.stringify(dir)} + '/f' + i + '.json', data, { exclusive: true });
`;

async function killWhileWriting(dir: string, first: number, killAfterMs: number): Promise<void> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', writerScript(dir, first)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`writer exited early (${code})`)));
  });
  await new Promise((resolve) => setTimeout(resolve, killAfterMs));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

describe('durable files', () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

  it('an exclusive write killed at any moment leaves the whole file or none under its name; stale temporaries are removed', { timeout: 60_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'durable-files-'));
    dirs.push(dir);
    for (let run = 0; run < 12; run++) await killWhileWriting(dir, run * 1000, 20 + ((run * 37) % 90));
    const names = await readdir(dir);
    const finals = names.filter((name) => name.endsWith('.json'));
    assert.ok(finals.length >= 12, `the writers got files written before being killed (${finals.length})`);
    for (const name of finals) assert.equal((await stat(join(dir, name))).size, FILE_BYTES, `${name} is whole`);

    const liveTemporary = `g.json.${process.pid}.tmp`;
    await writeFile(join(dir, liveTemporary), 'mine');
    const removed = await removeStaleTemporaries(dir);
    assert.deepEqual(removed.sort(), names.filter((name) => name.endsWith('.tmp')).sort());
    assert.deepEqual((await readdir(dir)).sort(), [...finals, liveTemporary].sort(), 'finals and the live process\'s temporary stay');
  });

  it('an exclusive write fails with EEXIST and keeps the existing content; a plain write replaces it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'durable-files-'));
    dirs.push(dir);
    const path = join(dir, 'a.json');
    await writeFileDurably(path, 'first', { exclusive: true });
    await assert.rejects(writeFileDurably(path, 'second', { exclusive: true }), { code: 'EEXIST' });
    assert.equal(await readFile(path, 'utf8'), 'first');
    await writeFileDurably(path, 'third');
    assert.equal(await readFile(path, 'utf8'), 'third');
    assert.deepEqual(await readdir(dir), ['a.json'], 'no temporary left behind');
  });
});
