// Streams a re-scan manifest (CSV with a header row, or JSON Lines) row by row: memory stays flat
// whatever the file's size. Each row is validated on its own; a bad row yields an error entry with
// its line number and the cause, and parsing goes on. Only a fault that puts every later row in
// doubt is fatal (thrown, naming the line): no usable header, two header columns for one field, a
// quoted field that is never closed (one stray quote would otherwise swallow the rest of the file).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { StringDecoder } from 'node:string_decoder';
import { QuicksilverError } from '../errors.js';
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

/**
 * Size and SHA-256 of a manifest file, read as a stream. Given a format, the same pass checks what is
 * fatal in that format (for CSV: the header and the quoting, see CsvManifestParser) and throws as
 * readManifest would, so that a submission refuses such a manifest before it queues any row.
 */
export async function manifestFingerprint(file: string, format?: ManifestFormat): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  const csv = format === 'csv' ? new CsvManifestParser(file) : undefined;
  const decoder = new StringDecoder('utf8');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    csv?.push(decoder.write(chunk as Buffer));
  }
  if (csv) {
    csv.push(decoder.end());
    csv.end();
  }
  return { bytes, sha256: hash.digest('hex') };
}

export interface ManifestOptions extends ImageSources {
  format?: ManifestFormat;
  /** Rows to pass over first (parsed to be counted, not validated or yielded): a resumed submission. */
  skipRows?: number;
}

/** Yields one entry per data row (after `skipRows`), strictly in file order. Throws (naming the line) when the file cannot be read or has a fatal fault (see the top of this file). */
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

/** One row's fields (keys: any alias) as a ManifestEntry. Two keys with a value for one field (e.g. `catalogNumber` and `id`) make it a bad row. */
export function validateRow(line: number, fields: Record<string, unknown>, sources: ImageSources): ManifestEntry {
  const raw: Record<string, unknown> = {};
  const keyOf: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) {
    const field = canonical(key);
    if (!field || value === '' || value === null || value === undefined) continue;
    if (keyOf[field] !== undefined) return { ok: false, line, reason: `'${keyOf[field]}' and '${key}' both give the ${field}: keep one` };
    keyOf[field] = key;
    raw[field] = typeof value === 'number' ? String(value) : value;
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

/** Most physical lines one record may span, and its longest text: a quoted field with line breaks
 * past either is taken for a stray opening quote, and the whole manifest is refused (naming the line
 * where the quote opened) rather than letting one quote swallow the rest of the file. */
export const MAX_RECORD_LINES = 100;
export const MAX_RECORD_CHARS = 64 * 1024;

type FieldState = 'start' | 'unquoted' | 'quoted' | 'quote' | 'after';

/**
 * CSV (RFC 4180, ',' separated, fields trimmed) parsed physical line by physical line, so that every
 * record carries the line it starts on (CRLF, LF or CR line ends, also inside quoted fields) and
 * records and malformed rows come out strictly in file order. The first non-empty record is the
 * header; empty lines are skipped; extra fields past the header are ignored, missing ones are absent.
 * Why not csv-parse (used until 2026-11-29): its `info.lines` counted a CRLF inside quotes as two lines
 * (the line numbers are result ids), its skipped-record events could overtake earlier rows (a resumed
 * submission counts rows in order), and one stray quote turned the rest of a file into one bad record.
 */
export class CsvManifestParser {
  private lineNo = 0;
  private carry = '';
  private first = true;
  private columns?: Array<keyof WorkItem | undefined>;
  // The record in progress (only carried over line ends inside a quoted field).
  private fields: string[] = [];
  private field = '';
  private state: FieldState = 'start';
  private recordLine = 0;
  private quoteLine = 0;
  private recordChars = 0;
  private error?: string;

  constructor(private readonly file: string) {}

  /** Rows completed by this text (any chunking; a CR at a chunk's end waits for a possible LF). */
  push(text: string): RawRow[] {
    const out: RawRow[] = [];
    let data = this.carry + text;
    if (this.first && data.length > 0) {
      if (data.charCodeAt(0) === 0xfeff) data = data.slice(1);
      this.first = false;
    }
    let from = 0;
    for (;;) {
      const lf = data.indexOf('\n', from);
      const cr = data.indexOf('\r', from);
      const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(lf, cr);
      if (end === -1 || (end === cr && end === data.length - 1)) break;
      this.line(data.slice(from, end), out);
      from = end + (end === cr && data.charCodeAt(end + 1) === 10 ? 2 : 1);
    }
    this.carry = data.slice(from);
    return out;
  }

  /** The rows left at the end of the file; throws if a quoted field is still open. */
  end(): RawRow[] {
    const out: RawRow[] = [];
    const rest = this.carry.endsWith('\r') ? this.carry.slice(0, -1) : this.carry;
    this.carry = '';
    if (rest !== '' || this.state === 'quoted') this.line(rest, out, true);
    if (this.state === 'quoted') {
      throw new QuicksilverError('INVALID_METADATA', `${this.file}: line ${this.quoteLine}: a quoted field opens here and is never closed (a stray '"'?); the manifest is refused: fix that line`);
    }
    if (!this.columns) this.header([]);
    return out;
  }

  private line(text: string, out: RawRow[], last = false): void {
    this.lineNo++;
    if (this.state !== 'quoted') {
      if (text === '') return; // an empty line
      this.recordLine = this.lineNo;
      this.recordChars = 0;
      if (!text.includes('"')) { // the common case: no quoting at all
        this.record(text.split(',').map((value) => value.trim()), out);
        return;
      }
    }
    this.recordChars += text.length + 1;
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      switch (this.state) {
        case 'start':
          if (c === ',') this.fields.push('');
          else if (c === '"') { this.state = 'quoted'; this.quoteLine = this.lineNo; }
          else if (c !== ' ' && c !== '\t') { this.field = c; this.state = 'unquoted'; }
          break;
        case 'unquoted':
          if (c === ',') this.endField(true);
          else {
            if (c === '"') this.error ??= `a quote inside the unquoted field ${this.fields.length + 1} (${JSON.stringify(this.field.trim() + c)}...): quote the whole field and double the quote`;
            this.field += c;
          }
          break;
        case 'quoted':
          if (c === '"') this.state = 'quote';
          else this.field += c;
          break;
        case 'quote':
        case 'after':
          if (c === '"' && this.state === 'quote') { this.field += '"'; this.state = 'quoted'; }
          else if (c === ',') this.endField(false);
          else if (c === ' ' || c === '\t') this.state = 'after';
          else {
            this.error ??= `text after the closing quote of field ${this.fields.length + 1} (${JSON.stringify(this.field)})`;
            this.field += c;
            this.state = 'unquoted';
          }
          break;
      }
    }
    if (this.state === 'quoted') {
      if (last) return;
      this.field += '\n';
      if (this.lineNo - this.recordLine + 1 >= MAX_RECORD_LINES || this.recordChars > MAX_RECORD_CHARS) {
        throw new QuicksilverError('INVALID_METADATA', `${this.file}: line ${this.quoteLine}: a quoted field opens here and is not closed within `
          + `${MAX_RECORD_LINES} lines or ${MAX_RECORD_CHARS / 1024} KiB (a stray '"'?); the manifest is refused: fix that line`);
      }
      return;
    }
    this.endField(this.state === 'unquoted' || this.state === 'start');
    const fields = this.fields;
    const error = this.error;
    this.fields = [];
    this.error = undefined;
    if (error) {
      if (!this.columns) throw new QuicksilverError('INVALID_METADATA', `${this.file}: line ${this.recordLine}: malformed CSV header: ${error}`);
      out.push({ line: this.recordLine, error: `malformed CSV: ${error}` });
    } else {
      this.record(fields, out);
    }
  }

  private endField(trim: boolean): void {
    this.fields.push(trim ? this.field.trim() : this.field);
    this.field = '';
    this.state = 'start';
  }

  private record(fields: string[], out: RawRow[]): void {
    if (!this.columns) {
      this.header(fields);
      return;
    }
    const row: Record<string, unknown> = {};
    const n = Math.min(fields.length, this.columns.length);
    for (let i = 0; i < n; i++) {
      const column = this.columns[i];
      if (column) row[column] = fields[i];
    }
    out.push({ line: this.recordLine, fields: row });
  }

  private header(names: string[]): void {
    const columns = names.map((name) => canonical(name));
    if (!columns.includes('barcode') || !columns.includes('uri')) {
      throw new QuicksilverError('INVALID_METADATA', `${this.file}: the CSV header must name a barcode (or catalog number) column and an image URI column; it has: ${names.join(', ')}`);
    }
    columns.forEach((field, i) => {
      const j = field ? columns.indexOf(field) : i;
      if (j !== i) {
        throw new QuicksilverError('INVALID_METADATA', `${this.file}: line ${this.recordLine}: the columns '${names[j]}' and '${names[i]}' both give the ${field}: `
          + 'keep one, or rename the other to a name that is not an alias (see docs/rescan.md)');
      }
    });
    this.columns = columns;
  }
}

async function* csvRows(file: string): AsyncGenerator<RawRow> {
  const parser = new CsvManifestParser(file);
  for await (const chunk of createReadStream(file, { encoding: 'utf8' })) yield* parser.push(chunk as string);
  yield* parser.end();
}

async function* jsonlRows(file: string): AsyncGenerator<RawRow> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let line = 0;
  for await (let text of lines) {
    line++;
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a byte order mark
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
