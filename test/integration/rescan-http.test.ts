// A re-scan whose manifest mixes local paths and http URLs served by a real node:http server on a
// loopback port: images read over http get the same verdicts as the same files read from disk, and
// every broken URL ends as exactly one failure with the reason: 404 at once (final, requested once),
// a redirect out of the allowed prefixes, a body over the byte limit, a URL the worker's own
// prefixes refuse (never requested), and 503s and a server that never answers after the job's
// attempts (retryable, requested once per delivery). A URL outside the CLI's prefixes is refused at
// submission. A 503 that clears up on the next delivery ends as a verdict.
import assert from 'node:assert/strict';
import { createReadStream, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../common/src/local-processes.js';
import { until } from '../helpers/cluster.js';
import { IMAGE_COUNT, collectResults, startRescanFixture, type RescanFixture } from '../helpers/rescan-fixture.js';

const MAX_IMAGE_BYTES = 256 * 1024;
const HTTP_TIMEOUT_MS = 1500;
const MAX_ATTEMPTS = 3;
const SHEETS = 24; // each sheet once by path and once by URL

describe('re-scan with http image URLs', { timeout: 240_000 }, () => {
  let fixture: RescanFixture;
  let server: Server;
  let base = '';
  const requests = new Map<string, number>();

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = createServer((request, response) => {
      const path = request.url ?? '';
      requests.set(path, (requests.get(path) ?? 0) + 1);
      const sheet = /^\/images\/(?:moved\/)?sheet-(\d+)\.jpg$/.exec(path);
      if (path.startsWith('/images/moved/')) { response.writeHead(301, { location: path.replace('/moved', '') }).end(); return; }
      if (sheet) { response.writeHead(200, { 'content-type': 'image/jpeg' }); createReadStream(join(fixture.archive, `sheet-${sheet[1]}.jpg`)).pipe(response); return; }
      switch (path) {
        case '/images/flaky.jpg': // 503 on the first request, the image after
          if (requests.get(path) === 1) response.writeHead(503).end();
          else createReadStream(join(fixture.archive, 'sheet-3.jpg')).pipe(response);
          return;
        case '/images/down.jpg': response.writeHead(503).end(); return;
        case '/images/redirect-out.jpg': response.writeHead(302, { location: '/private/sheet-1.jpg' }).end(); return;
        case '/images/huge.jpg': { // chunked, far over the limit
          response.writeHead(200, { 'content-type': 'image/jpeg' });
          const chunk = Buffer.alloc(64 * 1024, 7);
          let sent = 0;
          const pump = () => { while (!response.destroyed && sent++ < 1600) if (!response.write(chunk)) { response.once('drain', pump); return; } };
          pump();
          return;
        }
        case '/images/silent.jpg': return; // never answers
        default: response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    fixture = await startRescanFixture({
      workers: 1,
      workerFlags: ['--rescan-allowed-url-prefixes', `${base}/images/`, '--rescan-max-image-bytes', String(MAX_IMAGE_BYTES),
        '--rescan-http-timeout-ms', String(HTTP_TIMEOUT_MS)],
      // The CLI allows /other/ too; the worker does not: its own check refuses those rows.
      cliFlags: ['--allowed-url-prefixes', `${base}/images/,${base}/other/`],
    });
  });
  after(async () => {
    await fixture?.stop();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('gives every row exactly one verdict or one failure with the expected reason', async (t) => {
    const rows: string[] = [];
    for (let i = 0; i < SHEETS; i++) rows.push(`L${i},${fixture.archive}/sheet-${i % IMAGE_COUNT}.jpg`, `H${i},${base}/images/sheet-${i % IMAGE_COUNT}.jpg`);
    const broken: Record<string, { uri: string; expect: RegExp | 'verdict'; code?: string }> = {
      MOVED: { uri: `${base}/images/moved/sheet-5.jpg`, expect: 'verdict' },
      FLAKY: { uri: `${base}/images/flaky.jpg`, expect: 'verdict' },
      MISSING: { uri: `${base}/images/missing.jpg`, code: 'INVALID_METADATA', expect: /answered HTTP 404 Not Found: no image there/ },
      DOWN: { uri: `${base}/images/down.jpg`, code: 'UNAVAILABLE', expect: /answered HTTP 503 Service Unavailable/ },
      SILENT: { uri: `${base}/images/silent.jpg`, code: 'UNAVAILABLE', expect: new RegExp(`no complete answer within ${HTTP_TIMEOUT_MS} ms`) },
      HUGE: { uri: `${base}/images/huge.jpg`, code: 'IMAGE_TOO_LARGE', expect: new RegExp(`sent more than the limit of ${MAX_IMAGE_BYTES} bytes`) },
      REDIRECTED: { uri: `${base}/images/redirect-out.jpg`, code: 'INVALID_METADATA', expect: /redirected to http:\/\/127\.0\.0\.1:\d+\/private\/sheet-1\.jpg, which is outside the allowed URL prefixes/ },
      WORKER_REFUSES: { uri: `${base}/other/sheet-2.jpg`, code: 'INVALID_METADATA', expect: /is outside the allowed URL prefixes \(http:\/\/127\.0\.0\.1:\d+\/images\/\)/ },
      CLI_REFUSES: { uri: `${base}/private/sheet-2.jpg`, code: 'INVALID_METADATA', expect: /^uri: URL .*\/private\/sheet-2\.jpg is outside the allowed URL prefixes/ },
      LOCAL_MISSING: { uri: `${fixture.archive}/no-such-sheet.jpg`, code: 'INVALID_METADATA', expect: /ENOENT/ },
    };
    rows.push(...Object.entries(broken).map(([barcode, { uri }]) => `${barcode},${uri}`));
    const manifest = join(fixture.dir, 'http.csv');
    writeFileSync(manifest, `barcode,image_uri\n${rows.join('\n')}\n`);

    const startedAt = Date.now();
    const submitted = await fixture.cli(['submit', '--manifest', manifest, '--job-id', 'http', '--model', 'tiny-cnn', '--max-attempts', String(MAX_ATTEMPTS), '--wait']);
    assert.equal(submitted.code, 0, submitted.stderr);
    assert.deepEqual(JSON.parse(submitted.stdout.trim()), { jobId: 'http', rows: rows.length, valid: rows.length - 1, invalid: 1 });
    assert.match(submitted.stderr, /line \d+: uri: URL .*\/private\/sheet-2\.jpg is outside the allowed URL prefixes/);
    t.diagnostic(`${rows.length} rows in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);

    const results = await collectResults(fixture.store, 'http');
    assert.equal(results.size, rows.length, 'one result per row');
    const byBarcode = new Map([...results.values()].map((result) => [result.barcode, result]));
    assert.equal(byBarcode.size, rows.length);
    for (let i = 0; i < SHEETS; i++) {
      const local = byBarcode.get(`L${i}`);
      const remote = byBarcode.get(`H${i}`);
      assert.ok(local?.kind === 'verdict' && remote?.kind === 'verdict', `sheet ${i}: ${JSON.stringify([local, remote])}`);
      assert.equal(remote.score, local.score, `sheet ${i}: the same score over http as from disk`);
    }
    for (const [barcode, { expect, code }] of Object.entries(broken)) {
      const result = byBarcode.get(barcode);
      assert.ok(result, `${barcode} has a result`);
      if (expect === 'verdict') {
        assert.equal(result.kind, 'verdict', `${barcode}: ${JSON.stringify(result)}`);
        continue;
      }
      assert.ok(result.kind === 'failure', `${barcode}: ${JSON.stringify(result)}`);
      assert.equal(result.code, code, `${barcode}: ${result.reason}`);
      assert.match(result.reason, expect, barcode);
    }
    const attempts = (barcode: string) => byBarcode.get(barcode)!.attempts;
    assert.equal(attempts('FLAKY'), 2, 'the 503 cleared up on the second delivery');
    assert.deepEqual([attempts('DOWN'), attempts('SILENT')], [MAX_ATTEMPTS, MAX_ATTEMPTS], 'retryable failures used every attempt');
    assert.deepEqual([attempts('MISSING'), attempts('REDIRECTED'), attempts('HUGE'), attempts('WORKER_REFUSES')], [1, 1, 1, 1], 'final failures at once');
    // What the server saw: final answers requested once, retryable ones once per delivery, refused URLs never.
    assert.deepEqual(Object.fromEntries(['/images/missing.jpg', '/images/down.jpg', '/images/silent.jpg', '/images/flaky.jpg', '/images/redirect-out.jpg',
      '/images/huge.jpg', '/private/sheet-1.jpg', '/other/sheet-2.jpg', '/private/sheet-2.jpg'].map((path) => [path, requests.get(path) ?? 0])), {
      '/images/missing.jpg': 1, '/images/down.jpg': MAX_ATTEMPTS, '/images/silent.jpg': MAX_ATTEMPTS, '/images/flaky.jpg': 2, '/images/redirect-out.jpg': 1,
      '/images/huge.jpg': 1, '/private/sheet-1.jpg': 0, '/other/sheet-2.jpg': 0, '/private/sheet-2.jpg': 0,
    });
    await until(async () => (await fixture.store.requireJob('http')).state === 'completed', 20_000, 'job completed');
  });
});
