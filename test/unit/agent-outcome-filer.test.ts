import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OutcomeFiler } from '../../agent/src/outcome-filer.js';

describe('OutcomeFiler', { timeout: 10_000 }, () => {
  let root: string;
  let filer: OutcomeFiler;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'agent-filer-'));
    filer = new OutcomeFiler({ doneDir: join(root, 'done'), rejectedDir: join(root, 'rejected') });
    await filer.prepare();
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('moves the image into done/ with its verdict beside it', async () => {
    const source = join(root, 'QS00000001.jpg');
    await writeFile(source, 'image-1');
    const filed = await filer.fileVerdict(source, { label: 'clean', score: 0.1 });
    assert.equal(filed, join(root, 'done', 'QS00000001.jpg'));
    assert.equal(await readFile(filed, 'utf8'), 'image-1');
    assert.deepEqual(JSON.parse(await readFile(`${filed}.verdict.json`, 'utf8')), { label: 'clean', score: 0.1 });
    assert.ok(!(await readdir(root)).includes('QS00000001.jpg'), 'source removed from the hot folder');
  });

  it('never overwrites: a second file with the same name gets a numbered name', async () => {
    for (const content of ['image-2a', 'image-2b', 'image-2c']) {
      const source = join(root, 'QS00000002.jpg');
      await writeFile(source, content);
      await filer.fileVerdict(source, { content });
    }
    const done = join(root, 'done');
    assert.equal(await readFile(join(done, 'QS00000002.jpg'), 'utf8'), 'image-2a');
    assert.equal(await readFile(join(done, 'QS00000002~1.jpg'), 'utf8'), 'image-2b');
    assert.equal(await readFile(join(done, 'QS00000002~2.jpg'), 'utf8'), 'image-2c');
    assert.deepEqual(JSON.parse(await readFile(join(done, 'QS00000002~2.jpg.verdict.json'), 'utf8')), { content: 'image-2c' });
  });

  it('skips a name whose sidecar is already taken (orphan sidecar kept intact)', async () => {
    const done = join(root, 'done');
    await writeFile(join(done, 'QS00000003.jpg.verdict.json'), 'orphan');
    const source = join(root, 'QS00000003.jpg');
    await writeFile(source, 'image-3');
    const filed = await filer.fileVerdict(source, { n: 3 });
    assert.equal(filed, join(done, 'QS00000003~1.jpg'));
    assert.equal(await readFile(join(done, 'QS00000003.jpg.verdict.json'), 'utf8'), 'orphan');
  });

  it('files a rejection into rejected/ with {code, reason, at}', async () => {
    const source = join(root, 'notes.txt');
    await writeFile(source, 'not an image');
    const at = new Date('2026-11-27T10:15:00Z');
    const filed = await filer.fileRejection(source, { code: 'UNSUPPORTED_FORMAT', reason: 'text' }, at);
    assert.equal(filed, join(root, 'rejected', 'notes.txt'));
    assert.deepEqual(JSON.parse(await readFile(`${filed}.reason.json`, 'utf8')), { code: 'UNSUPPORTED_FORMAT', reason: 'text', at: '2026-11-27T10:15:00.000Z' });
  });

  it('fails with ENOENT (and leaves no sidecar) when the source is gone', async () => {
    await assert.rejects(filer.fileVerdict(join(root, 'QS00000009.jpg'), {}), { code: 'ENOENT' });
    assert.ok(!(await readdir(join(root, 'done'))).some((name) => name.startsWith('QS00000009')));
  });

  it('is idempotent per key: filing again after a crash finds its own sidecar and makes no second copy', async () => {
    const source = join(root, 'spooled.img');
    await writeFile(source, 'image-4');
    const verdict = { idempotencyKey: 's1:abc', label: 'clean' };
    const filed = await filer.fileVerdict(source, verdict, { name: 'QS00000004.jpg', keepSource: true });
    assert.equal(filed, join(root, 'done', 'QS00000004.jpg'));
    assert.equal(await readFile(source, 'utf8'), 'image-4', 'source kept');
    const again = await filer.fileVerdict(source, verdict, { name: 'QS00000004.jpg' });
    assert.equal(again, filed);
    assert.ok(!(await readdir(join(root, 'done'))).includes('QS00000004~1.jpg'));
    assert.ok(!(await readdir(root)).includes('spooled.img'), 'source removed on the second call');
    const other = join(root, 'other.img');
    await writeFile(other, 'image-4b');
    assert.equal(await filer.fileVerdict(other, { idempotencyKey: 's1:def' }, { name: 'QS00000004.jpg' }), join(root, 'done', 'QS00000004~1.jpg'), 'another key still gets a numbered name');
  });
});
