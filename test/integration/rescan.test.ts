// A 100,000-row re-scan through two real worker processes and a coordinator process, on a real
// nats-server: every row ends with exactly one verdict or failure, the coordinator's memory stays
// flat, progress is reported while it runs, and export/report cover every row.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { until } from '../helpers/cluster.js';
import { collectResults, rssBytes, startRescanFixture, writeManifest, type RescanFixture } from '../helpers/rescan-fixture.js';

const ROWS = Number(process.env.QS_TEST_RESCAN_ROWS ?? 100_000); // smaller while developing

describe('re-scan of a 100,000-row manifest', { timeout: 900_000 }, () => {
  let fixture: RescanFixture;
  before(async () => { fixture = await startRescanFixture({ workers: 2 }); });
  after(async () => { await fixture?.stop(); });

  it('accounts for every row exactly once, with the coordinator memory flat and progress reported', { timeout: 900_000 }, async (t) => {
    const manifest = join(fixture.dir, 'manifest.csv');
    const bad = new Map<number, string>([
      [10, 'QS-BAD-1,relative.jpg,Quercus\n'],
      [20_000, `QS-BAD-2,${fixture.archive}/../etc/passwd,Quercus\n`],
      [50_000, `,${fixture.archive}/sheet-1.jpg,Quercus\n`],
      [70_000, `QS-GONE,${fixture.archive}/no-such-sheet.jpg,Quercus\n`],
    ]);
    await writeManifest(manifest, fixture.archive, ROWS, bad);

    const coordinatorPid = fixture.coordinator.child.pid!;
    const rss: number[] = [];
    const sampler = setInterval(() => rss.push(rssBytes(coordinatorPid)), 250);
    t.after(() => clearInterval(sampler));
    const progressLines: string[] = [];
    const startedAt = Date.now();
    const submitted = await fixture.cli(['submit', '--manifest', manifest, '--job-id', 'big', '--model', 'tiny-cnn', '--wait'],
      (text) => progressLines.push(...text.split('\n').filter((l) => l.includes('done'))));
    clearInterval(sampler);
    const seconds = (Date.now() - startedAt) / 1000;
    assert.equal(submitted.code, 0, submitted.stderr);
    assert.deepEqual(JSON.parse(submitted.stdout.trim()), { jobId: 'big', rows: ROWS, valid: ROWS - 3, invalid: 3 });
    assert.match(submitted.stderr, /line 11: uri: relative path/);
    assert.match(submitted.stderr, /line 20001: uri: path traversal/);
    assert.match(submitted.stderr, /line 50001: barcode: missing/);

    // Progress: lines while it ran, counting up to the total.
    assert.ok(progressLines.length >= 2, `progress lines: ${progressLines.join(' | ')}`);
    const counts = progressLines.map((l) => Number(/done (\d+)\//.exec(l)?.[1]));
    assert.ok(counts.some((c) => c > 0 && c < ROWS), `an intermediate progress line: ${progressLines.join(' | ')}`);
    assert.equal(counts.at(-1), ROWS);

    // Exactly once: one result per manifest line (2..ROWS+1), read back from the results stream.
    const results = await collectResults(fixture.store, 'big');
    assert.equal(results.size, ROWS);
    for (let line = 2; line <= ROWS + 1; line++) assert.ok(results.has(line), `line ${line} has a result`);
    const failures = [...results.values()].filter((r) => r.kind === 'failure');
    assert.deepEqual(failures.map((f) => [f.line, f.kind === 'failure' && f.code]).sort((a, b) => Number(a[0]) - Number(b[0])),
      [[11, 'INVALID_METADATA'], [20_001, 'INVALID_METADATA'], [50_001, 'INVALID_METADATA'], [70_001, 'INVALID_METADATA']]);
    const workersUsed = new Set([...results.values()].flatMap((r) => (r.kind === 'verdict' ? [r.workerId] : [])));
    assert.deepEqual([...workersUsed].sort(), ['worker-1', 'worker-2'], 'both workers pulled rows');

    // The coordinator marked the job completed and exports its counts.
    await until(async () => (await fixture.store.requireJob('big')).state === 'completed', 20_000, 'job completed');
    const metrics = await (await fetch(`http://127.0.0.1:${fixture.coordinatorMetricsPort}/metrics`)).text();
    assert.match(metrics, new RegExp(`quicksilver_rescan_job_rows\\{job="big",status="verdict"[^}]*\\} ${ROWS - 4}`));
    assert.match(metrics, /quicksilver_rescan_job_rows\{job="big",status="failure"[^}]*\} 4/);

    // Coordinator memory: flat while 100,000 rows passed (it holds no per-row state).
    const quarter = Math.max(1, Math.floor(rss.length / 4));
    const early = Math.max(...rss.slice(0, quarter));
    const late = Math.max(...rss.slice(-quarter));
    const peak = Math.max(...rss);
    t.diagnostic(`${ROWS} rows in ${seconds.toFixed(0)} s (${(ROWS / seconds).toFixed(0)} rows/s); coordinator RSS early ${(early / 2 ** 20).toFixed(0)} MiB, late ${(late / 2 ** 20).toFixed(0)} MiB, peak ${(peak / 2 ** 20).toFixed(0)} MiB, ${rss.length} samples`);
    assert.ok(rss.length >= 8, 'enough RSS samples');
    assert.ok(late - early < 48 * 2 ** 20, `coordinator RSS grew from ${early} to ${late} bytes`);
    assert.ok(peak < 400 * 2 ** 20, `coordinator peak RSS ${peak} bytes`);

    // Export and report cover every row.
    const exportFile = join(fixture.dir, 'big.csv');
    const exported = await fixture.cli(['export', 'big', '--format', 'csv', '--out', exportFile]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal(readFileSync(exportFile, 'utf8').trim().split('\n').length, ROWS + 1);
    const reportFile = join(fixture.dir, 'big.html');
    const reported = await fixture.cli(['report', 'big', '--out', reportFile, '--max-flagged', '20']);
    assert.equal(reported.code, 0, reported.stderr);
    const html = readFileSync(reportFile, 'utf8');
    assert.match(html, /<h2>Score histogram<\/h2><svg/);
    assert.match(html, /<td>INVALID_METADATA<\/td><td class="failure-count">4<\/td>/);
    assert.match(html, new RegExp(`results</th><td>${ROWS} \\(verdicts ${ROWS - 4}, failures 4\\)`));
  });
});
