// ImageReferenceReader's guard against a hung network share: a read that cannot be cancelled counts as
// stuck once it passes the timeout, and while MAX_STUCK_READS are stuck new references are refused at
// once (they would take the libuv threads decodes need). The source is a stand-in whose reads hang until
// released; the real reads are covered by test/integration/images-by-reference.test.ts.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { it } from 'node:test';
import { Registry } from 'prom-client';
import { QuicksilverError } from '../../common/src/errors.js';
import { ImageReferenceReader, MAX_STUCK_READS } from '../../gpu-worker/src/image-reference-reader.js';

const bytes = Buffer.from('the bytes of a sheet');
const reference = (name: string) => ({ uri: `/mnt/spools/${name}.img`, sizeBytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });

it(`refuses references at once while ${MAX_STUCK_READS} abandoned reads are stuck, and reads again once they end`, { timeout: 10_000 }, async () => {
  const hanging: Array<() => void> = [];
  let hangNext = true;
  const registry = new Registry();
  const reader = new ImageReferenceReader({
    allowedRoots: ['/mnt/spools'], allowedUrlPrefixes: [], readTimeoutMs: 100, registry,
    readSource: () => (hangNext ? new Promise<Buffer>((resolve) => hanging.push(() => resolve(bytes))) : Promise.resolve(bytes)),
  });
  const unreadable = (pattern: RegExp) => (error: unknown) => error instanceof QuicksilverError && error.code === 'IMAGE_REFERENCE_UNREADABLE' && pattern.test(error.message);

  for (let i = 0; i < MAX_STUCK_READS; i++) {
    await assert.rejects(reader.read(reference(`hung-${i}`)), unreadable(/no complete read within 100 ms/));
  }
  hangNext = false;
  const started = performance.now();
  await assert.rejects(reader.read(reference('refused')), unreadable(new RegExp(`${MAX_STUCK_READS} earlier reads by reference are still stuck past 100 ms.*refused\\.img not tried`)));
  assert.ok(performance.now() - started < 100, 'refused at once, not after another timeout of 100 ms');
  assert.equal(hanging.length, MAX_STUCK_READS, 'the refused reference was not read');

  // The share answers again: the stuck reads end, and references are read again.
  for (const release of hanging) release();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(await reader.read(reference('after')), bytes);
  const text = await registry.metrics();
  assert.match(text, /quicksilver_worker_reference_reads_total\{outcome="unreadable"\} 3/);
  assert.match(text, /quicksilver_worker_reference_reads_total\{outcome="ok"\} 1/);
});

it('a read below the stuck limit that times out does not stop the next reference', { timeout: 10_000 }, async () => {
  let hangNext = true;
  const reader = new ImageReferenceReader({
    allowedRoots: ['/mnt/spools'], allowedUrlPrefixes: [], readTimeoutMs: 50, registry: new Registry(),
    readSource: () => (hangNext ? new Promise<Buffer>(() => {}) : Promise.resolve(bytes)),
  });
  await assert.rejects(reader.read(reference('hung')), /no complete read within 50 ms/);
  hangNext = false;
  assert.deepEqual(await reader.read(reference('next')), bytes);
});
