// Manifest parsing and URI checks: CSV and JSON Lines, row-by-row validation with line numbers,
// path traversal and paths outside the allowed roots refused with a reason.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkImageUri, readImage } from '../../common/src/rescan/image-uri.js';
import { manifestFingerprint, MAX_RECORD_LINES, readManifest, type ManifestEntry } from '../../common/src/rescan/manifest.js';

const dir = mkdtempSync(join(tmpdir(), 'qs-manifest-unit-'));
const root = join(dir, 'archive');
mkdirSync(root);
const sources = { allowedRoots: [root], allowedUrlPrefixes: ['https://images.example.org/', 'http://x.org/'] };
const collect = async (file: string) => {
  const entries: ManifestEntry[] = [];
  for await (const entry of readManifest(file, sources)) entries.push(entry);
  return entries;
};
const reasons = (entries: ManifestEntry[]) => entries.flatMap((e) => (e.ok ? [] : [`${e.line}: ${e.reason}`]));

describe('re-scan manifest', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads CSV with aliased headers and reports each bad row with its line, going on after it', async () => {
    const file = join(dir, 'm.csv');
    writeFileSync(file, [
      'Catalog Number,Image URI,Taxon,Family,Collection,extra',
      `A1,${root}/a.jpg,Quercus robur,Fagaceae,HERB,ignored`,
      `A2,https://images.example.org/a2.jpg,,,`,
      `A3,${root}/../secret.jpg`,
      `A4,/etc/passwd`,
      `,${root}/b.jpg`,
      `A6,images/c.jpg`,
      `A7,"${root}/quoted, with comma.jpg"`,
      `A8,ftp://host/x.jpg`,
      '',
      `A9,file://${root}/d.jpg,Pinus`,
      'A10,https://images.example.org.evil.net/a10.jpg',
      'A11,http://images.example.org/a11.jpg',
    ].join('\n'));
    const entries = await collect(file);
    assert.deepEqual(entries.filter((e) => e.ok).map((e) => e.ok && [e.item.line, e.item.barcode, e.item.uri, e.item.taxon]), [
      [2, 'A1', `${root}/a.jpg`, 'Quercus robur'], [3, 'A2', 'https://images.example.org/a2.jpg', undefined],
      [8, 'A7', `${root}/quoted, with comma.jpg`, undefined], [11, 'A9', `file://${root}/d.jpg`, 'Pinus'],
    ]);
    assert.deepEqual(reasons(entries), [
      `4: uri: path traversal ('..') in ${root}/../secret.jpg`,
      `5: uri: path /etc/passwd is outside the allowed roots (${root})`,
      '6: barcode: missing',
      '7: uri: relative path images/c.jpg: give an absolute path under an allowed root',
      '9: uri: unsupported URI scheme in ftp://host/x.jpg: use an absolute path, file://, http:// or https://',
      '12: uri: URL https://images.example.org.evil.net/a10.jpg is outside the allowed URL prefixes (https://images.example.org/, http://x.org/)',
      '13: uri: URL http://images.example.org/a11.jpg is outside the allowed URL prefixes (https://images.example.org/, http://x.org/)',
    ]);
  });

  it('reads JSON Lines, reporting lines that are not JSON objects', async () => {
    const file = join(dir, 'm.jsonl');
    writeFileSync(file, [
      JSON.stringify({ barcode: 'J1', uri: `${root}/j1.jpg`, family: 'Rosaceae' }),
      '{not json',
      '[1,2]',
      JSON.stringify({ catalogNumber: 'J4', imageUrl: 'http://x.org/j4.png' }),
      JSON.stringify({ barcode: 'J5\u0007', uri: `${root}/j5.jpg` }),
    ].join('\n'));
    const entries = await collect(file);
    assert.deepEqual(entries.filter((e) => e.ok).map((e) => e.ok && [e.item.line, e.item.barcode, e.item.family]), [[1, 'J1', 'Rosaceae'], [4, 'J4', undefined]]);
    const bad = reasons(entries);
    assert.equal(bad.length, 3);
    assert.match(bad[0]!, /^2: not valid JSON/);
    assert.equal(bad[1], '3: a JSON Lines row must be an object');
    assert.equal(bad[2], '5: barcode: must not contain control characters');
  });

  it('refuses a CSV whose header names no barcode or no image column', async () => {
    const file = join(dir, 'noheader.csv');
    writeFileSync(file, 'name,path\nx,/a.jpg\n');
    await assert.rejects(collect(file), /must name a barcode \(or catalog number\) column and an image URI column; it has: name, path/);
  });

  it('refuses a CSV whose stray opening quote would swallow the rest of the file, naming the line where it opened', async () => {
    const rows = (n: number, quoteAt: number) => ['barcode,path,taxon', ...Array.from({ length: n }, (_, i) => `${i === quoteAt ? '"' : ''}B${i},${root}/${i}.jpg,Carex`)].join('\n');
    const long = join(dir, 'stray-quote.csv');
    writeFileSync(long, rows(1000, 9)); // line 11 opens a quote that never closes
    await assert.rejects(collect(long), /stray-quote\.csv: line 11: a quoted field opens here and is not closed within 100 lines/);
    await assert.rejects(manifestFingerprint(long, 'csv'), /line 11: a quoted field opens here/, 'submit checks this before queueing anything');
    const short = join(dir, 'unclosed.csv');
    writeFileSync(short, rows(5, 2));
    await assert.rejects(collect(short), /unclosed\.csv: line 4: a quoted field opens here and is never closed/);
    // A quoted field may span lines (e.g. notes, an ignored column), up to MAX_RECORD_LINES.
    const notes = join(dir, 'notes.csv');
    const note = Array.from({ length: MAX_RECORD_LINES - 1 }, (_, i) => `note ${i}, ""quoted""`).join('\n');
    writeFileSync(notes, `barcode,path,notes\nN1,${root}/1.jpg,"${note}"\nN2,${root}/2.jpg,x\n`);
    assert.deepEqual((await collect(notes)).map((e) => e.ok && [e.item.line, e.item.barcode]), [[2, 'N1'], [MAX_RECORD_LINES + 1, 'N2']]);
    assert.equal((await manifestFingerprint(notes, 'csv')).bytes > 0, true);
  });

  it('yields malformed rows and good rows strictly in line order, with the line each record starts on (LF, CRLF, CR)', async () => {
    const file = join(dir, 'order.csv');
    const lines = ['barcode,path,taxon'];
    for (let i = 1; i <= 30_000; i++) lines.push(i % 997 === 0 ? `B${i},${root}/${i}.jpg,Carex 5" long` : `B${i},${root}/${i}.jpg,Carex`);
    writeFileSync(file, lines.join('\n'));
    const seen: number[] = [];
    let bad = 0;
    for await (const entry of readManifest(file, sources)) {
      seen.push(entry.ok ? entry.item.line : entry.line);
      if (!entry.ok) {
        bad++;
        assert.match(entry.reason, /^malformed CSV: .*quote.*field/i);
      }
      if (seen.length % 37 === 0) await new Promise((r) => setTimeout(r, 0)); // a slow consumer (submit's publication window)
    }
    assert.equal(bad, 30);
    assert.deepEqual(seen, Array.from({ length: 30_000 }, (_, i) => i + 2), 'every row once, in line order');

    for (const eol of ['\n', '\r\n', '\r']) {
      const multi = join(dir, 'multi.csv');
      writeFileSync(multi, ['barcode,path,notes', `M1,${root}/1.jpg,"two${eol}lines"`, '', `M2,${root}/2.jpg,"a ""b"""`, ` M3 , "${root}/3.jpg" ,x`, `M4,${root}/4.jpg,"x"y`, `M5,${root}/5.jpg`].join(eol) + eol);
      const entries = await collect(multi);
      assert.deepEqual(entries.map((e) => (e.ok ? [e.item.line, e.item.barcode, e.item.uri] : [e.line, e.reason])), [
        [2, 'M1', `${root}/1.jpg`], [5, 'M2', `${root}/2.jpg`], [6, 'M3', `${root}/3.jpg`],
        [7, 'malformed CSV: text after the closing quote of field 3 ("x")'], [8, 'M5', `${root}/5.jpg`],
      ], JSON.stringify(eol));
    }
  });

  it('refuses a header with two columns for one field, and a JSON Lines row with two keys for one; strips a byte order mark', async () => {
    const csv = join(dir, 'two-barcodes.csv');
    writeFileSync(csv, `catalogNumber,id,path\nB1,101,${root}/1.jpg\n`);
    await assert.rejects(collect(csv), /two-barcodes\.csv: line 1: the columns 'catalogNumber' and 'id' both give the barcode/);
    await assert.rejects(manifestFingerprint(csv, 'csv'), /both give the barcode/);
    writeFileSync(csv, `\uFEFFbarcode,Image URI,image_path\nB1,${root}/1.jpg,${root}/2.jpg\n`);
    await assert.rejects(collect(csv), /the columns 'Image URI' and 'image_path' both give the uri/);
    const jsonl = join(dir, 'bom.jsonl');
    writeFileSync(jsonl, `\uFEFF${JSON.stringify({ barcode: 'J1', uri: `${root}/1.jpg` })}\r\n\r\n${JSON.stringify({ barcode: 'J2', id: 7, uri: `${root}/2.jpg` })}\r\n`
      + `${JSON.stringify({ barcode: 'J3', id: '', path: `${root}/3.jpg` })}\r\n`);
    const entries = await collect(jsonl);
    assert.deepEqual(entries.map((e) => (e.ok ? [e.item.line, e.item.barcode] : [e.line, e.reason])), [
      [1, 'J1'], [3, "'barcode' and 'id' both give the barcode: keep one"], [4, 'J3'],
    ]);
  });

  it('reads images only under the roots, with symlinks resolved', async () => {
    writeFileSync(join(root, 'ok.jpg'), Buffer.from([0xff, 0xd8, 0xff]));
    writeFileSync(join(dir, 'outside.jpg'), Buffer.from([1, 2, 3]));
    symlinkSync(join(dir, 'outside.jpg'), join(root, 'link.jpg'));
    writeFileSync(join(root, 'empty.jpg'), '');
    const options = { ...sources, maxBytes: 1024, httpTimeoutMs: 1000 };
    assert.equal((await readImage(`${root}/ok.jpg`, options)).length, 3);
    await assert.rejects(readImage(`${root}/link.jpg`, options), (e: Error & { code?: string }) => e.code === 'INVALID_METADATA' && /outside the allowed roots/.test(e.message));
    await assert.rejects(readImage(`${root}/missing.jpg`, options), (e: Error & { code?: string }) => e.code === 'INVALID_METADATA' && /ENOENT/.test(e.message));
    await assert.rejects(readImage(`${root}/empty.jpg`, options), (e: Error & { code?: string }) => e.code === 'IMAGE_EMPTY');
    // A file missing because its root is missing, not a folder or empty (an unmounted share) may come back: retryable, naming the root.
    const share = join(dir, 'share');
    const shareOptions = { ...options, allowedRoots: [root, share] };
    const unavailable = (why: RegExp) => (e: Error & { code?: string; retryable?: boolean }) => e.code === 'UNAVAILABLE' && e.retryable === true && why.test(e.message);
    await assert.rejects(readImage(`${share}/a/1.jpg`, shareOptions), unavailable(new RegExp(`the allowed root ${share} is not available \\(ENOENT: not mounted\\?\\)`)));
    mkdirSync(share);
    await assert.rejects(readImage(`${share}/a/1.jpg`, shareOptions), unavailable(new RegExp(`the allowed root ${share} is empty \\(not mounted\\?\\)`)));
    rmSync(share, { recursive: true });
    writeFileSync(share, 'not a folder');
    await assert.rejects(readImage(`${share}/a/1.jpg`, shareOptions), unavailable(/is not available \(ENOTDIR/));
    rmSync(share);
    mkdirSync(join(share, 'a'), { recursive: true });
    await assert.rejects(readImage(`${share}/a/1.jpg`, shareOptions), (e: Error & { code?: string }) => e.code === 'INVALID_METADATA' && /ENOENT/.test(e.message), 'a mounted share: the file is really missing');
    await assert.rejects(readImage(`${root}/ok.jpg`, { ...options, maxBytes: 2 }), (e: Error & { code?: string }) => e.code === 'IMAGE_TOO_LARGE');
    assert.throws(() => checkImageUri(`${root}/a.jpg`, { allowedRoots: [], allowedUrlPrefixes: [] }), /no allowed roots are configured/);
    assert.throws(() => checkImageUri(`${root}2/a.jpg`, sources), /outside the allowed roots/);
  });
});
