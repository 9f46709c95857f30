// Parsing a 5,000,000-row manifest runs in bounded memory: the file is generated as a stream in a
// temp folder, then `quicksilver rescan validate` (the same streaming parser and row validation as
// submit) reads it in a child process that reports its peak RSS and heap. The same command on a
// 1,000-row manifest gives the baseline; the 5,000-times larger file may add only a fixed margin,
// and the child runs with a 64 MiB V8 old space.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cliEntry } from '../../common/src/paths.js';

async function writeManifest(file: string, rows: number, root: string): Promise<void> {
  const out = createWriteStream(file);
  out.write('barcode,image_uri,taxon,family,collection\n');
  for (let i = 1; i <= rows; i++) {
    const line = i % 1_000_003 === 0 ? `BAD${i},relative/path.jpg,,,\n` : `QS${String(i).padStart(8, '0')},${root}/${i % 977}/sheet-${i}.jpg,Quercus robur,Fagaceae,HERB\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

async function validate(file: string, root: string): Promise<{ rows: number; valid: number; invalid: number; peakRssBytes: number; peakHeapBytes: number }> {
  const child = spawn(process.execPath, [cliEntry(), 'rescan', 'validate', '--manifest', file, '--allowed-roots', root], {
    // A 64 MiB old-space cap: a parser that kept rows would die here (5M rows need gigabytes).
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=64' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const [code] = await once(child, 'exit') as [number];
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

describe('re-scan manifest parsing', { timeout: 240_000 }, () => {
  it('validates a 5,000,000-row CSV manifest in bounded memory, reporting its bad rows', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'qs-manifest-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const root = join(dir, 'archive');
    const small = join(dir, 'small.csv');
    const large = join(dir, 'large.csv');
    await writeManifest(small, 1000, root);
    await writeManifest(large, 5_000_000, root);
    assert.ok(statSync(large).size > 300 * 1024 * 1024, 'the large manifest is several hundred MB on disk');

    const baseline = await validate(small, root);
    assert.equal(baseline.rows, 1000);
    const measured = await validate(large, root);
    assert.equal(measured.rows, 5_000_000);
    assert.equal(measured.invalid, 4, 'rows 1000003, 2000006, 3000009, 4000012 have relative paths');
    assert.equal(measured.valid, 5_000_000 - 4);
    const growthMiB = (measured.peakRssBytes - baseline.peakRssBytes) / 2 ** 20;
    t.diagnostic(`peak RSS: 1k rows ${(baseline.peakRssBytes / 2 ** 20).toFixed(0)} MiB, 5M rows ${(measured.peakRssBytes / 2 ** 20).toFixed(0)} MiB (+${growthMiB.toFixed(0)} MiB); peak heap ${(measured.peakHeapBytes / 2 ** 20).toFixed(0)} MiB`);
    // Holding the rows would take gigabytes (the file alone is > 300 MB); streaming stays within a fixed margin.
    assert.ok(growthMiB < 96, `peak RSS grew by ${growthMiB.toFixed(0)} MiB over the 1,000-row run`);
    assert.ok(measured.peakHeapBytes < 80 * 2 ** 20, `peak heap ${measured.peakHeapBytes} bytes`);
  });
});
