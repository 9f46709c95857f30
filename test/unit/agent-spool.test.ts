// The agent's durable spool on a real temp folder: admission moves the hot-folder file in (record +
// image), the budget is enforced, and a restart recovers from every interrupted step.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeImageFile } from '../../agent/src/image-header.js';
import { Spool } from '../../agent/src/spool.js';

const station = { stationId: 's1', modelName: '' };

describe('Spool', { timeout: 10_000 }, () => {
  let root: string;
  before(async () => { root = await mkdtemp(join(tmpdir(), 'agent-spool-')); });
  after(() => rm(root, { recursive: true, force: true }));

  async function hotFile(dir: string, name: string, content: string) {
    await mkdir(dir, { recursive: true });
    const path = join(dir, name);
    await writeFile(path, content);
    return { path, header: await describeImageFile(path, station) };
  }

  it('admits an image: record + bytes in the spool, then the hot-folder name removed; reloaded after a restart', async () => {
    const hot = join(root, 'a-hot');
    const dir = join(root, 'a-spool');
    const spool = new Spool({ dir, maxBytes: 1000, maxImages: 10 });
    assert.deepEqual(await spool.open(), []);
    const { path, header } = await hotFile(hot, 'QS1.jpg', 'bytes-1');
    const entry = await spool.admit(header, path);
    assert.deepEqual(await readdir(hot), ['QS1.jpg'], 'the hot file stays until the caller removes it');
    await spool.removeHotFile(path);
    assert.deepEqual(await readdir(hot), []);
    await spool.removeHotFile(path); // already gone (the conveyor's software moved it): fine
    assert.equal(await readFile(entry.imagePath, 'utf8'), 'bytes-1');
    const record = JSON.parse(await readFile(join(dir, `${header.sha256}.json`), 'utf8'));
    assert.equal(record.header.idempotencyKey, `s1:${header.sha256}`);
    assert.equal(record.header.captureTime, header.captureTime);
    assert.deepEqual(record.names, ['QS1.jpg']);
    const second = await hotFile(hot, 'QS1-copy.jpg', 'bytes-1');
    await spool.addName(entry, second.path);
    await spool.removeHotFile(second.path);
    assert.deepEqual(await readdir(hot), []);

    const reopened = new Spool({ dir, maxBytes: 1000, maxImages: 10 });
    const [loaded] = await reopened.open();
    assert.deepEqual(loaded.record.names, ['QS1.jpg', 'QS1-copy.jpg']);
    assert.equal(reopened.bytes, 7);
    await reopened.remove(loaded);
    assert.deepEqual(await readdir(dir), []);
    assert.equal(reopened.images, 0);
  });

  it('recovers from interrupted steps: a record without image is dropped, temporary files removed', async () => {
    const hot = join(root, 'b-hot');
    const dir = join(root, 'b-spool');
    const spool = new Spool({ dir, maxBytes: 1000, maxImages: 10 });
    await spool.open();
    const kept = await hotFile(hot, 'QS2.jpg', 'bytes-2');
    await spool.admit(kept.header, kept.path);
    const torn = await hotFile(hot, 'QS3.jpg', 'bytes-3');
    const tornEntry = await spool.admit(torn.header, torn.path);
    await unlink(tornEntry.imagePath); // as if the crash came between the record and the image
    await writeFile(join(dir, 'x.img.tmp'), 'partial');
    const entries = await new Spool({ dir, maxBytes: 1000, maxImages: 10 }).open();
    assert.deepEqual(entries.map((e) => e.record.names), [['QS2.jpg']]);
    assert.deepEqual((await readdir(dir)).sort(), [`${kept.header.sha256}.img`, `${kept.header.sha256}.json`].sort());
  });

  it('has room only within its budget of images and bytes (a lone oversized image still fits)', async () => {
    const hot = join(root, 'c-hot');
    const spool = new Spool({ dir: join(root, 'c-spool'), maxBytes: 10, maxImages: 2 });
    await spool.open();
    assert.equal(spool.hasRoomFor(50), true, 'empty spool takes anything');
    const a = await hotFile(hot, 'a.jpg', '123456');
    await spool.admit(a.header, a.path);
    assert.equal(spool.hasRoomFor(4), true);
    assert.equal(spool.hasRoomFor(5), false, 'over maxBytes');
    const b = await hotFile(hot, 'b.jpg', '12');
    await spool.admit(b.header, b.path);
    assert.equal(spool.hasRoomFor(1), false, 'at maxImages');
    assert.ok(spool.oldestAgeSeconds() >= 0);
  });
});
