// `rescan report` and `rescan export` on results stored in a real nats-server: the diff against a
// previous run is per sheet (a barcode with two sheets shows no phantom change), thumbnails of flagged
// sheets are fetched a few at a time (from a real HTTP server that counts the requests in flight), and
// the CSV export writes true/false and keeps spreadsheet formulas out of its cells.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { RescanJetStream } from '../../common/src/rescan/adapters/jetstream-rescan.js';
import type { RescanVerdict } from '../../common/src/rescan/records.js';
import { exportResults, THUMBNAIL_CONCURRENCY, writeReport } from '../../cli/src/rescan/report.js';
import { jobRecord, startRescanStore } from '../helpers/rescan-fixture.js';

const now = new Date().toISOString();
const job = (jobId: string, totalRows: number) => jobRecord(jobId, 'completed', totalRows);
const verdict = (jobId: string, line: number, barcode: string, uri: string, flagged: boolean): RescanVerdict => ({
  kind: 'verdict', jobId, line, barcode, uri, label: flagged ? 'flagged' : 'ok', score: flagged ? 0.9 : 0.1, threshold: 0.5, flagged,
  modelName: 'm', modelVersion: '1', workerId: 'w', attempts: 1, decidedAt: now,
});

describe('re-scan report and export', { timeout: 60_000 }, () => {
  let bed: Awaited<ReturnType<typeof startRescanStore>>;
  let dir: string;
  let store: RescanJetStream;
  before(async () => {
    bed = await startRescanStore('rescan-report');
    ({ dir, store } = bed);
  });
  after(async () => { await bed?.stop(); });
  const sources = { allowedRoots: [], allowedUrlPrefixes: [] };

  it('diffs two runs per sheet: a barcode with two sheets changes only where a sheet changed', async () => {
    for (const [jobId, sheet2Flagged] of [['runA', false], ['runB', false], ['runC', true]] as const) {
      await store.createJob(job(jobId, 2));
      await store.publishResult(verdict(jobId, 2, 'B1', '/nowhere/B1_sheet1.jpg', true));
      await store.publishResult(verdict(jobId, 3, 'B1', '/nowhere/B1_sheet2.jpg', sheet2Flagged));
    }
    const same = await writeReport(store, await store.requireJob('runB'), join(dir, 'same.html'), { ...sources, maxFlaggedShown: 10, against: await store.requireJob('runA') });
    assert.equal(same.changed, 0, 'the same verdicts for both sheets: nothing changed');
    const file = join(dir, 'changed.html');
    const changed = await writeReport(store, await store.requireJob('runC'), file, { ...sources, maxFlaggedShown: 10, against: await store.requireJob('runA') });
    assert.equal(changed.changed, 1);
    assert.match(readFileSync(file, 'utf8'), /<tr class="change"><td>B1<\/td><td>\/nowhere\/B1_sheet2\.jpg<\/td><td>ok<\/td><td>0\.100<\/td><td>flagged<\/td>/);
  });

  it(`reads the flagged sheets' thumbnails at most ${THUMBNAIL_CONCURRENCY} at a time`, async (t) => {
    const jpeg = await sharp({ create: { width: 40, height: 60, channels: 3, background: { r: 200, g: 30, b: 30 } } }).jpeg().toBuffer();
    let inFlight = 0;
    let most = 0;
    let served = 0;
    const server = createServer((_request, response) => {
      most = Math.max(most, ++inFlight);
      setTimeout(() => {
        inFlight--;
        served++;
        response.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length }).end(jpeg);
      }, 150);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => server.close());
    const prefix = `http://127.0.0.1:${(server.address() as { port: number }).port}/img/`;
    const sheets = 12;
    await store.createJob(job('thumbs', sheets));
    for (let i = 0; i < sheets; i++) await store.publishResult(verdict('thumbs', i + 2, `T${i}`, `${prefix}${i}.jpg`, true));
    const file = join(dir, 'thumbs.html');
    await writeReport(store, await store.requireJob('thumbs'), file, { allowedRoots: [], allowedUrlPrefixes: [prefix], maxFlaggedShown: 50 });
    t.diagnostic(`${served} thumbnails served, at most ${most} at once`);
    assert.equal(served, sheets);
    assert.equal(readFileSync(file, 'utf8').match(/<img src="data:image\/jpeg;base64,/g)?.length, sheets, 'every flagged sheet has its thumbnail');
    assert.ok(most <= THUMBNAIL_CONCURRENCY && most > 1, `${most} images read at once`);
  });

  it('exports CSV with flagged as true/false, quoting intact, and formula-like cells guarded', async () => {
    await store.createJob(job('csv', 3));
    await store.publishResult(verdict('csv', 2, 'B,1 "q"', '/data/a,b.jpg', true));
    await store.publishResult(verdict('csv', 3, '+B2', '/data/b.jpg', false));
    await store.publishResult({ kind: 'failure', jobId: 'csv', line: 4, barcode: '=HYPERLINK("http://x")', code: 'INVALID_METADATA', reason: '@two\nlines', attempts: 0, decidedAt: now });
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => { text += d.toString(); });
    assert.equal(await exportResults(store, 'csv', 'csv', out), 3);
    const rows = parse(text, { columns: true }) as Array<Record<string, string>>;
    assert.deepEqual(rows.map((r) => [r.line, r.barcode, r.uri, r.flagged, r.score, r.reason]), [
      ['2', 'B,1 "q"', '/data/a,b.jpg', 'true', '0.9', ''],
      ['3', "'+B2", '/data/b.jpg', 'false', '0.1', ''],
      ['4', '\'=HYPERLINK("http://x")', '', '', '', "'@two\nlines"],
    ]);
  });
});
