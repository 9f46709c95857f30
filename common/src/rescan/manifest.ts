// Streams a re-scan manifest (CSV with a header row, or JSON Lines) row by row: memory stays flat
// whatever the file's size. Each row is validated on its own; a bad row yields an error entry with
// its line number and the cause, and parsing goes on.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parse } from 'csv-parse';
import { checkImageUri, type ImageSources } from './image-uri.js';
import { ManifestRowSchema, type WorkItem } from './records.js';

export type ManifestFormat = 'csv' | 'jsonl';
export type ManifestEntry = { ok: true; item: WorkItem } | { ok: false; line: number; reason: string; barcode?: string; uri?: string };

/** Column names accepted for each field (compared lower-case, without spaces, '_' or '-'). */
const COLUMN_ALIASES: Record<string, keyof WorkItem> = {
  barcode: 'barcode', catalognumber: 'barcode', catalogno: 'barcode', catalog: 'barcode', id: 'barcode',
  uri: 'uri', imageuri: 'uri', image: 'uri', url: 'uri', imageurl: 'uri', path: 'uri', imagepath: 'uri', file: 'uri',
  taxon: 'taxon', scientificname: 'taxon', family: 'family', collection: 'collection', collectioncode: 'collection',
};
const canonical = (name: string) => COLUMN_ALIASES[name.toLowerCase().replace(/[\s_-]/g, '')];

export function detectFormat(file: string): ManifestFormat {
  return /\.(jsonl|ndjson)$/i.test(file) ? 'jsonl' : 'csv';
}

/** Size and SHA-256 of a manifest file, read as a stream. */
export async function manifestFingerprint(file: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

export interface ManifestOptions extends ImageSources {
  format?: ManifestFormat;
  /** Rows to pass over first (parsed to be counted, not validated or yielded): a resumed submission. */
  skipRows?: number;
}

/** Yields one entry per data row (after `skipRows`), in file order. Throws only when the file cannot be read or has no usable header. */
export async function* readManifest(file: string, options: ManifestOptions): AsyncGenerator<ManifestEntry> {
  const format = options.format ?? detectFormat(file);
  const rows = format === 'csv' ? csvRows(file) : jsonlRows(file);
  let skip = options.skipRows ?? 0;
  for await (const { line, fields, error } of rows) {
    if (skip > 0) {
      skip--;
      continue;
    }
    if (error) {
      yield { ok: false, line, reason: error };
      continue;
    }
    yield validateRow(line, fields!, options);
  }
}

export function validateRow(line: number, fields: Record<string, unknown>, sources: ImageSources): ManifestEntry {
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    const field = canonical(key);
    if (field && value !== '' && value !== null && value !== undefined) raw[field] = typeof value === 'number' ? String(value) : value;
  }
  const context = { barcode: typeof raw.barcode === 'string' ? raw.barcode : undefined, uri: typeof raw.uri === 'string' ? raw.uri : undefined };
  const parsed = ManifestRowSchema.safeParse(raw);
  if (!parsed.success) {
    const reason = parsed.error.issues.map((issue) => {
      const field = issue.path.join('.') || 'row';
      return raw[field] === undefined && field !== 'row' ? `${field}: missing` : `${field}: ${issue.message}`;
    }).join('; ');
    return { ok: false, line, reason, ...context };
  }
  try {
    checkImageUri(parsed.data.uri, sources);
  } catch (error) {
    return { ok: false, line, reason: `uri: ${(error as Error).message}`, ...context };
  }
  return { ok: true, item: { ...parsed.data, line } };
}

interface RawRow { line: number; fields?: Record<string, unknown>; error?: string }

async function* csvRows(file: string): AsyncGenerator<RawRow> {
  const parser = createReadStream(file).pipe(parse({
    bom: true, columns: (header: string[]) => {
      const mapped = header.map((name) => canonical(name) ?? false);
      if (!mapped.includes('barcode') || !mapped.includes('uri')) {
        throw new Error(`${file}: the CSV header must name a barcode (or catalog number) column and an image URI column; it has: ${header.join(', ')}`);
      }
      return mapped;
    },
    info: true, skip_empty_lines: true, relax_column_count: true, skip_records_with_error: true, trim: true,
  }));
  // Malformed records (e.g. a stray quote) are skipped by the parser and reported here.
  const skipped: RawRow[] = [];
  parser.on('skip', (error: Error & { lines?: number }) => { skipped.push({ line: error.lines ?? 0, error: `malformed CSV: ${error.message}` }); });
  for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
    yield* skipped.splice(0);
    yield { line: info.lines, fields: record };
  }
  yield* skipped.splice(0);
}

async function* jsonlRows(file: string): AsyncGenerator<RawRow> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      yield { line, error: `not valid JSON: ${(error as Error).message}` };
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) yield { line, error: 'a JSON Lines row must be an object' };
    else yield { line, fields: value as Record<string, unknown> };
  }
}
