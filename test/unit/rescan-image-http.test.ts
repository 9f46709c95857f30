// Reading re-scan images over http from a real node:http server on loopback: allowed URL prefixes
// (also for every redirect), bounded time, a byte limit enforced while streaming (declared, chunked
// and gzip-inflated bodies), and which answers are final and which are worth another delivery.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { freePort } from '../../common/src/local-processes.js';
import { checkImageUri, readImage, UrlPrefixSchema, urlUnderPrefix, type ReadImageOptions } from '../../common/src/rescan/image-uri.js';

const MAX_BYTES = 1024 * 1024;
const IMAGE = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4]);

describe('re-scan images over http', () => {
  let server: Server;
  let base = '';
  let options: ReadImageOptions;
  /** Bytes the server managed to write for each streaming route before the client went away. */
  const written = new Map<string, number>();

  before(async () => {
    server = createServer((request, response) => {
      const path = request.url ?? '';
      const stream = (name: string, chunk: Buffer) => {
        let total = 0;
        const pump = () => {
          while (!response.destroyed && total < 200 * MAX_BYTES) {
            total += chunk.length;
            if (!response.write(chunk)) { response.once('drain', pump); return; }
          }
        };
        response.on('close', () => written.set(name, total));
        pump();
      };
      switch (path) {
        case '/images/ok.jpg': response.writeHead(200, { 'content-length': IMAGE.length }).end(IMAGE); return;
        case '/images/empty.jpg': response.writeHead(200, { 'content-length': 0 }).end(); return;
        case '/images/missing.jpg': response.writeHead(404).end('not here'); return;
        case '/images/gone.jpg': response.writeHead(410).end(); return;
        case '/images/forbidden.jpg': response.writeHead(403).end(); return;
        case '/images/busy.jpg': response.writeHead(503).end(); return;
        case '/images/throttled.jpg': response.writeHead(429).end(); return;
        case '/images/redirect-ok': response.writeHead(302, { location: '/images/ok.jpg' }).end(); return;
        case '/images/redirect-out': response.writeHead(301, { location: '/private/secret.jpg' }).end(); return;
        case '/images/redirect-loop': response.writeHead(307, { location: '/images/redirect-loop' }).end(); return;
        case '/images/redirect-nowhere': response.writeHead(302).end(); return;
        case '/images/declared-huge.jpg':
          response.writeHead(200, { 'content-length': 50 * MAX_BYTES });
          stream('declared', Buffer.alloc(64 * 1024, 1));
          return;
        case '/images/chunked-huge.jpg':
          response.writeHead(200, { 'content-type': 'image/jpeg' }); // no length: chunked
          stream('chunked', Buffer.alloc(64 * 1024, 2));
          return;
        case '/images/gzip-bomb.jpg': {
          const bomb = gzipSync(Buffer.alloc(20 * MAX_BYTES)); // ~20 KiB inflating to 20 MiB
          response.writeHead(200, { 'content-encoding': 'gzip', 'content-length': bomb.length }).end(bomb);
          return;
        }
        case '/images/stalls-mid-body.jpg': response.writeHead(200, { 'content-length': 1000 }).write(IMAGE); return; // never ends
        case '/images/never-answers.jpg': return;
        case '/images/cut-mid-body.jpg':
          response.writeHead(200, { 'content-length': 1000 });
          response.write(IMAGE, () => response.socket?.destroy());
          return;
        default: response.writeHead(500).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    options = { allowedRoots: [], allowedUrlPrefixes: [`${base}/images/`], maxBytes: MAX_BYTES, httpTimeoutMs: 1500 };
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const rejects = async (path: string, code: string, retryable: boolean, reason: RegExp, extra: Partial<ReadImageOptions> = {}) => {
    const started = Date.now();
    await assert.rejects(readImage(path.startsWith('http') ? path : `${base}${path}`, { ...options, ...extra }), (error: Error & { code?: string; retryable?: boolean }) => {
      assert.equal(error.code, code, `${path}: ${error.message}`);
      assert.equal(error.retryable, retryable, `${path} retryable`);
      assert.match(error.message, reason);
      return true;
    });
    return Date.now() - started;
  };

  it('reads an image, following redirects that stay under the prefixes', async () => {
    assert.deepEqual(await readImage(`${base}/images/ok.jpg`, options), IMAGE);
    assert.deepEqual(await readImage(`${base}/images/redirect-ok`, options), IMAGE);
  });

  it('refuses URLs outside the prefixes, with credentials or an encoded separator, before any request', async () => {
    await rejects('/private/secret.jpg', 'INVALID_METADATA', false, /is outside the allowed URL prefixes/);
    await rejects(`http://localhost:${new URL(base).port}/images/ok.jpg`, 'INVALID_METADATA', false, /outside the allowed URL prefixes/);
    await rejects('/images/ok.jpg', 'INVALID_METADATA', false, /no allowed URL prefixes are configured/, { allowedUrlPrefixes: [] });
    await rejects(base.replace('//', '//curator:s3cret@') + '/images/ok.jpg', 'INVALID_METADATA', false, /carries credentials/);
    await assert.rejects(readImage(base.replace('//', '//curator:s3cret@') + '/images/ok.jpg', options), (e: Error) => !e.message.includes('s3cret'));
    await rejects('/images/..%2Fprivate/secret.jpg', 'INVALID_METADATA', false, /encoded '\/' or '\\'/);
  });

  it('makes 404/410/403 final and 5xx/429 retryable, naming the status', async () => {
    await rejects('/images/missing.jpg', 'INVALID_METADATA', false, /answered HTTP 404 Not Found: no image there/);
    await rejects('/images/gone.jpg', 'INVALID_METADATA', false, /answered HTTP 410 Gone/);
    await rejects('/images/forbidden.jpg', 'INVALID_METADATA', false, /answered HTTP 403 Forbidden$/);
    await rejects('/images/busy.jpg', 'UNAVAILABLE', true, /answered HTTP 503 Service Unavailable/);
    await rejects('/images/throttled.jpg', 'UNAVAILABLE', true, /answered HTTP 429 Too Many Requests/);
  });

  it('checks every redirect and bounds how many are followed', async () => {
    await rejects('/images/redirect-out', 'INVALID_METADATA', false, /redirect-out redirected to http:\/\/127\.0\.0\.1:\d+\/private\/secret\.jpg, which is outside the allowed URL prefixes/);
    await rejects('/images/redirect-loop', 'INVALID_METADATA', false, /more than 5 redirects/);
    await rejects('/images/redirect-nowhere', 'INVALID_METADATA', false, /answered HTTP 302 Found without a Location/);
  });

  it('refuses bodies over the byte limit while streaming, without reading them to the end', async (t) => {
    await rejects('/images/declared-huge.jpg', 'IMAGE_TOO_LARGE', false, new RegExp(`declares ${50 * MAX_BYTES} bytes, over the limit of ${MAX_BYTES}`));
    await rejects('/images/chunked-huge.jpg', 'IMAGE_TOO_LARGE', false, new RegExp(`sent more than the limit of ${MAX_BYTES} bytes`));
    await rejects('/images/gzip-bomb.jpg', 'IMAGE_TOO_LARGE', false, /sent more than the limit/);
    await new Promise((resolve) => setTimeout(resolve, 200)); // the server sees the connection close
    // The client hung up: the server wrote at most the limit plus what socket buffers hold, not the 200 MiB it offered.
    t.diagnostic(`server wrote ${JSON.stringify(Object.fromEntries(written))} bytes before the client hung up`);
    for (const name of ['declared', 'chunked']) assert.ok((written.get(name) ?? Infinity) < 16 * MAX_BYTES, `${name}: server wrote ${written.get(name)} bytes`);
    await rejects('/images/empty.jpg', 'IMAGE_EMPTY', false, /zero bytes/);
  });

  it('bounds the time of a read and makes timeouts, cut connections and refused connections retryable', async () => {
    const stalled = await rejects('/images/stalls-mid-body.jpg', 'UNAVAILABLE', true, /no complete answer within 1500 ms/);
    const silent = await rejects('/images/never-answers.jpg', 'UNAVAILABLE', true, /no complete answer within 1500 ms/);
    assert.ok(stalled < 5000 && silent < 5000, `timeouts took ${stalled} and ${silent} ms`);
    await rejects('/images/cut-mid-body.jpg', 'UNAVAILABLE', true, /cannot read .*cut-mid-body\.jpg/);
    const closed = `http://127.0.0.1:${await freePort()}`;
    await rejects(`${closed}/images/x.jpg`, 'UNAVAILABLE', true, /ECONNREFUSED/, { allowedUrlPrefixes: [`${closed}/images/`] });
    const stopping = new AbortController();
    setTimeout(() => stopping.abort(), 100);
    await rejects('/images/never-answers.jpg', 'SHUTTING_DOWN', true, /abandoned/, { signal: stopping.signal });
  });

  it('matches prefixes by scheme, host, port and whole path segments', () => {
    const at = (url: string, prefix: string) => urlUnderPrefix(new URL(url), prefix);
    assert.ok(at('https://img.example.org/herb/a.jpg', 'https://img.example.org/herb'));
    assert.ok(at('https://IMG.example.org:443/herb/a.jpg', 'https://img.example.org/herb/'));
    assert.ok(!at('https://img.example.org/herbarium-private/a.jpg', 'https://img.example.org/herb'));
    assert.ok(!at('http://img.example.org/herb/a.jpg', 'https://img.example.org/herb/'));
    assert.ok(!at('https://img.example.org:8443/herb/a.jpg', 'https://img.example.org/herb/'));
    assert.ok(!at('https://img.example.org.evil.net/herb/a.jpg', 'https://img.example.org/'));
    assert.ok(!at('https://img.example.org/herb/../private/a.jpg', 'https://img.example.org/herb/'), 'dot segments are resolved first');
    assert.equal(checkImageUri('https://img.example.org/herb/a.jpg', { allowedRoots: [], allowedUrlPrefixes: ['https://img.example.org/herb/'] }).kind, 'http');
    for (const bad of ['ftp://img.example.org/', 'https://u:p@img.example.org/', 'https://img.example.org/?q=1', 'img.example.org/herb']) {
      assert.equal(UrlPrefixSchema.safeParse(bad).success, false, bad);
    }
  });
});
