// Export and HTML report of a re-scan job, both streamed from the results stream: memory grows with
// the flagged sheets shown, the failure reasons and the job's duration, never with its row count.
// The diff against a previous job is keyed by sheet (barcode and image URI: a barcode may have several
// sheets) and keeps only the flagged sheets of each run in memory (a sheet changed verdict when it is
// flagged in exactly one of the two runs).
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { stringify } from 'csv-stringify';
import sharp from 'sharp';
import type { RescanJetStream } from '../../../common/src/rescan/adapters/jetstream-rescan.js';
import { readImage, type ImageSources } from '../../../common/src/rescan/image-uri.js';
import type { JobRecord, RescanFailure, RescanResult, RescanVerdict } from '../../../common/src/rescan/records.js';

export const EXPORT_COLUMNS = ['jobId', 'line', 'kind', 'barcode', 'uri', 'taxon', 'family', 'collection', 'label', 'score', 'threshold', 'flagged',
  'modelName', 'modelVersion', 'code', 'reason', 'attempts', 'workerId', 'decidedAt'] as const;

/**
 * A CSV cell a spreadsheet would run as a formula (text starting with =, +, -, @, tab or CR: a barcode or
 * a failure reason comes from the manifest) gets a leading apostrophe, which spreadsheets show as text.
 */
export const csvCell = (text: string) => (/^[=+\-@\t\r]/.test(text) ? `'${text}` : text);

/**
 * Writes every result of a job as CSV (header row; `flagged` as true/false, text cells guarded by
 * csvCell) or JSON Lines (as stored); returns the rows written.
 */
export async function exportResults(store: RescanJetStream, jobId: string, format: 'csv' | 'jsonl', out: NodeJS.WritableStream): Promise<number> {
  let rows = 0;
  const write = async (text: string) => { if (!out.write(text)) await once(out, 'drain'); };
  if (format === 'jsonl') {
    for await (const result of store.results(jobId)) {
      await write(`${JSON.stringify(result)}\n`);
      rows++;
    }
    return rows;
  }
  const csv = stringify({ header: true, columns: [...EXPORT_COLUMNS], cast: { boolean: (value) => String(value), string: csvCell } });
  csv.pipe(out, { end: false });
  for await (const result of store.results(jobId)) {
    if (!csv.write(result)) await once(csv, 'drain');
    rows++;
  }
  csv.end();
  await once(csv, 'end');
  return rows;
}

export interface ReportOptions extends ImageSources {
  /** Flagged sheets shown with a thumbnail (all are counted). */
  maxFlaggedShown: number;
  against?: JobRecord;
}

interface Change { barcode: string; uri: string; before: string; after: string; scoreBefore: number; scoreAfter: number }
const HISTOGRAM_BINS = 20;
const CHANGES_SHOWN = 500;
/** Images read and shrunk at once for the flagged sheets' thumbnails. */
export const THUMBNAIL_CONCURRENCY = 4;

export async function writeReport(store: RescanJetStream, job: JobRecord, file: string, options: ReportOptions): Promise<{ rows: number; flagged: number; changed?: number }> {
  const histogram = new Array<number>(HISTOGRAM_BINS).fill(0);
  const flaggedShown: RescanVerdict[] = [];
  const failuresByCode = new Map<string, { count: number; examples: RescanFailure[] }>();
  const perSecond = new Map<number, number>();
  let rows = 0;
  let verdicts = 0;
  let flagged = 0;
  for await (const result of store.results(job.jobId)) {
    rows++;
    const second = Math.floor(Date.parse(result.decidedAt) / 1000);
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    if (result.kind === 'failure') {
      const entry = failuresByCode.get(result.code) ?? { count: 0, examples: [] };
      entry.count++;
      if (entry.examples.length < 10) entry.examples.push(result);
      failuresByCode.set(result.code, entry);
      continue;
    }
    verdicts++;
    histogram[Math.min(HISTOGRAM_BINS - 1, Math.max(0, Math.floor(result.score * HISTOGRAM_BINS)))]!++;
    if (result.flagged) {
      flagged++;
      if (flaggedShown.length < options.maxFlaggedShown) flaggedShown.push(result);
    }
  }
  const thumbnails = await mapLimited(flaggedShown, THUMBNAIL_CONCURRENCY, (verdict) => thumbnail(verdict.uri, options));
  const diff = options.against ? await diffAgainst(store, options.against.jobId, job.jobId) : undefined;

  const out = createWriteStream(file);
  const html = renderHtml({ job, rows, verdicts, flagged, histogram, flaggedShown, thumbnails, failuresByCode, throughput: throughputSeries(perSecond), diff, against: options.against });
  out.end(html);
  await once(out, 'finish');
  return { rows, flagged, changed: diff?.count };
}

/** A sheet: one barcode may have several images, each its own row in both runs. */
const sheetKey = (v: RescanVerdict) => `${v.barcode}\u0000${v.uri}`;

async function diffAgainst(store: RescanJetStream, previousJobId: string, jobId: string): Promise<{ count: number; shown: Change[] }> {
  const flaggedBefore = new Map<string, number>();
  for await (const r of store.results(previousJobId, 'verdict')) if ((r as RescanVerdict).flagged) flaggedBefore.set(sheetKey(r as RescanVerdict), (r as RescanVerdict).score);
  const flaggedAfter = new Map<string, number>();
  const shown: Change[] = [];
  let count = 0;
  const note = (change: Change) => { count++; if (shown.length < CHANGES_SHOWN) shown.push(change); };
  for await (const r of store.results(jobId, 'verdict')) {
    const v = r as RescanVerdict;
    const key = sheetKey(v);
    if (v.flagged) flaggedAfter.set(key, v.score);
    else if (flaggedBefore.has(key)) note({ barcode: v.barcode, uri: v.uri, before: 'flagged', after: v.label, scoreBefore: flaggedBefore.get(key)!, scoreAfter: v.score });
  }
  for await (const r of store.results(previousJobId, 'verdict')) {
    const v = r as RescanVerdict;
    const key = sheetKey(v);
    if (!v.flagged && flaggedAfter.has(key)) note({ barcode: v.barcode, uri: v.uri, before: v.label, after: 'flagged', scoreBefore: v.score, scoreAfter: flaggedAfter.get(key)! });
  }
  return { count, shown };
}

/** `work` over `items` with at most `limit` at once; results in the items' order. */
async function mapLimited<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

async function thumbnail(uri: string, sources: ImageSources): Promise<string | undefined> {
  try {
    const bytes = await readImage(uri, { allowedRoots: sources.allowedRoots, allowedUrlPrefixes: sources.allowedUrlPrefixes, maxBytes: 300 * 1024 * 1024, httpTimeoutMs: 15_000 });
    const jpeg = await sharp(bytes, { limitInputPixels: 120_000_000 }).resize({ width: 160 }).jpeg({ quality: 70 }).toBuffer();
    return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
  } catch {
    return undefined;
  }
}

/** Rows per second, re-binned to at most 60 bars over the job's span. */
function throughputSeries(perSecond: Map<number, number>): { start: number; binSeconds: number; rates: number[] } {
  if (perSecond.size === 0) return { start: 0, binSeconds: 1, rates: [] };
  let first = Infinity;
  let last = -Infinity;
  for (const second of perSecond.keys()) { first = Math.min(first, second); last = Math.max(last, second); }
  const binSeconds = Math.max(1, Math.ceil((last - first + 1) / 60));
  const bins = new Array<number>(Math.ceil((last - first + 1) / binSeconds)).fill(0);
  for (const [second, count] of perSecond) bins[Math.floor((second - first) / binSeconds)]! += count;
  return { start: first, binSeconds, rates: bins.map((count) => count / binSeconds) };
}

const escape = (text: unknown) => String(text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function bars(values: number[], labels: string[], unit: string): string {
  const max = Math.max(1, ...values);
  const width = 640;
  const barWidth = values.length ? width / values.length : width;
  const rects = values.map((v, i) => {
    const h = Math.round((v / max) * 160);
    return `<rect x="${(i * barWidth).toFixed(1)}" y="${170 - h}" width="${Math.max(1, barWidth - 2).toFixed(1)}" height="${h}" fill="#4a78b5"><title>${escape(labels[i])}: ${v.toFixed(1)} ${unit}</title></rect>`;
  }).join('');
  return `<svg width="${width}" height="190" role="img"><line x1="0" y1="170" x2="${width}" y2="170" stroke="#888"/>${rects}`
    + `<text x="0" y="186" font-size="11">${escape(labels[0] ?? '')}</text><text x="${width}" y="186" font-size="11" text-anchor="end">${escape(labels.at(-1) ?? '')}</text>`
    + `<text x="2" y="12" font-size="11">max ${max.toFixed(1)} ${unit}</text></svg>`;
}

function renderHtml(data: {
  job: JobRecord; rows: number; verdicts: number; flagged: number; histogram: number[]; flaggedShown: RescanVerdict[]; thumbnails: (string | undefined)[];
  failuresByCode: Map<string, { count: number; examples: RescanFailure[] }>; throughput: { start: number; binSeconds: number; rates: number[] };
  diff?: { count: number; shown: Change[] }; against?: JobRecord;
}): string {
  const { job } = data;
  const failures = [...data.failuresByCode.entries()].sort((a, b) => b[1].count - a[1].count);
  const histLabels = data.histogram.map((_, i) => `${(i / HISTOGRAM_BINS).toFixed(2)}-${((i + 1) / HISTOGRAM_BINS).toFixed(2)}`);
  const tpLabels = data.throughput.rates.map((_, i) => new Date((data.throughput.start + i * data.throughput.binSeconds) * 1000).toISOString().slice(11, 19));
  return `<!doctype html><html><head><meta charset="utf-8"><title>Re-scan ${escape(job.jobId)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
.sheets{display:flex;flex-wrap:wrap;gap:10px}.sheet{width:170px;font-size:12px}.sheet img{width:160px;border:1px solid #999}</style></head><body>
<h1>Re-scan ${escape(job.jobId)}</h1>
<table><tr><th>state</th><td>${escape(job.state)}</td></tr><tr><th>manifest</th><td>${escape(job.manifest)}</td></tr>
<tr><th>model</th><td>${escape(job.model)}</td></tr><tr><th>rows in manifest</th><td>${job.totalRows ?? '?'}</td></tr>
<tr><th>results</th><td>${data.rows} (verdicts ${data.verdicts}, failures ${data.rows - data.verdicts})</td></tr>
<tr><th>flagged</th><td id="flagged-count">${data.flagged}</td></tr><tr><th>created</th><td>${escape(job.createdAt)}</td></tr><tr><th>completed</th><td>${escape(job.completedAt ?? '-')}</td></tr></table>
<h2>Score histogram</h2>${bars(data.histogram, histLabels, 'sheets')}
<h2>Throughput over time</h2>${bars(data.throughput.rates, tpLabels, 'rows/s')}
<h2>Flagged sheets (${data.flagged}${data.flagged > data.flaggedShown.length ? `, first ${data.flaggedShown.length} shown` : ''})</h2>
<div class="sheets">${data.flaggedShown.map((v, i) => `<div class="sheet">${data.thumbnails[i] ? `<img src="${data.thumbnails[i]}" alt="${escape(v.barcode)}">` : '<div>(no thumbnail)</div>'}
<div><b class="barcode">${escape(v.barcode)}</b> score ${v.score.toFixed(3)}</div><div>${escape(v.taxon ?? '')} ${escape(v.family ?? '')}</div><div>line ${v.line}</div></div>`).join('\n')}</div>
<h2>Failures by reason</h2>${failures.length === 0 ? '<p>none</p>' : `<table><tr><th>code</th><th>rows</th><th>examples (line: barcode, reason)</th></tr>${failures.map(([code, { count, examples }]) =>
    `<tr><td>${escape(code)}</td><td class="failure-count">${count}</td><td>${examples.map((f) => `${f.line}: ${escape(f.barcode ?? '')} ${escape(f.reason)}`).join('<br>')}</td></tr>`).join('')}</table>`}
${data.diff ? `<h2>Changed verdicts against ${escape(data.against?.jobId)} (${escape(data.against?.model)})</h2><p><span id="changed-count">${data.diff.count}</span> sheets changed verdict${data.diff.count > data.diff.shown.length ? ` (first ${data.diff.shown.length} listed)` : ''}.</p>
<table><tr><th>barcode</th><th>image</th><th>before</th><th>score before</th><th>after</th><th>score after</th></tr>${data.diff.shown.map((c) =>
    `<tr class="change"><td>${escape(c.barcode)}</td><td>${escape(c.uri)}</td><td>${escape(c.before)}</td><td>${c.scoreBefore.toFixed(3)}</td><td>${escape(c.after)}</td><td>${c.scoreAfter.toFixed(3)}</td></tr>`).join('')}</table>` : ''}
</body></html>
`;
}

export type { RescanResult };
