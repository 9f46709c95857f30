// Image URIs of a re-scan manifest: absolute file paths (or file:// URLs) under allowed roots, and
// http(s) URLs under allowed URL prefixes. checkImageUri is the lexical check done at submission;
// readImage is what a worker does: symlinks resolved (realpath) before the roots are checked again,
// every redirect checked against the prefixes, time and bytes bounded.
import { constants } from 'node:fs';
import { open, opendir, realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { QuicksilverError } from '../errors.js';

export type ImageLocation = { kind: 'file'; path: string } | { kind: 'http'; url: URL };

/** Where a manifest's images may come from. An empty list allows none of that kind. */
export interface ImageSources {
  /** Folders file paths must lie under. */
  allowedRoots: readonly string[];
  /** http(s) URL prefixes (scheme, host, port, path prefix) URLs and their redirects must start with. */
  allowedUrlPrefixes: readonly string[];
}

/** A usable prefix: an absolute http(s) URL without credentials, query or fragment. */
function parseUrlPrefix(prefix: string): URL | undefined {
  try {
    const url = new URL(prefix);
    return /^https?:$/.test(url.protocol) && !url.username && !url.password && !url.search && !url.hash ? url : undefined;
  } catch {
    return undefined;
  }
}

export const UrlPrefixSchema = z.string().refine((value) => parseUrlPrefix(value) !== undefined,
  'an http(s) URL prefix such as https://images.example.org/herbarium/ (no credentials, query or fragment)');

/** Same scheme, host and port, and the path under the prefix's path (whole segments unless the prefix ends with '/'). */
export function urlUnderPrefix(url: URL, prefix: string): boolean {
  const base = parseUrlPrefix(prefix);
  if (!base || url.protocol !== base.protocol || url.host !== base.host) return false;
  return base.pathname.endsWith('/') ? url.pathname.startsWith(base.pathname) : url.pathname === base.pathname || url.pathname.startsWith(`${base.pathname}/`);
}

/** Why `url` may not be read (a phrase that follows the URL), or undefined when it is under a prefix. */
function urlProblem(url: URL, prefixes: readonly string[]): string | undefined {
  if (!/^https?:$/.test(url.protocol)) return 'is not http(s)';
  if (url.username || url.password) return 'carries credentials: give them to the image server another way';
  // An encoded separator may be decoded by the server into a path that escapes the prefix.
  if (/%2f|%5c/i.test(url.pathname)) return 'has an encoded \'/\' or \'\\\' in its path';
  if (prefixes.length === 0) return 'is refused: no allowed URL prefixes are configured';
  if (!prefixes.some((prefix) => urlUnderPrefix(url, prefix))) return `is outside the allowed URL prefixes (${prefixes.join(', ')})`;
  return undefined;
}

/** The URL as shown in reasons and logs: without credentials. */
const shown = (url: URL) => (url.username || url.password ? `${url.protocol}//${url.host}${url.pathname}${url.search}` : url.href);

const within = (root: string, path: string) => {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel) && rel.split(sep)[0] !== '..');
};

/** Parses and checks a URI; throws INVALID_METADATA naming the reason. */
export function checkImageUri(uri: string, sources: ImageSources): ImageLocation {
  const { allowedRoots } = sources;
  if (/^https?:\/\//i.test(uri)) {
    let url: URL;
    try {
      url = new URL(uri);
      if (!url.hostname) throw new Error('no host');
    } catch {
      throw new QuicksilverError('INVALID_METADATA', `not a valid http(s) URL: ${uri}`);
    }
    const problem = urlProblem(url, sources.allowedUrlPrefixes);
    if (problem) throw new QuicksilverError('INVALID_METADATA', `URL ${shown(url)} ${problem}`);
    return { kind: 'http', url };
  }
  let path = uri;
  if (/^file:/i.test(uri)) {
    try {
      path = fileURLToPath(uri);
    } catch (error) {
      throw new QuicksilverError('INVALID_METADATA', `not a valid file URL: ${uri} (${(error as Error).message})`);
    }
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) {
    throw new QuicksilverError('INVALID_METADATA', `unsupported URI scheme in ${uri}: use an absolute path, file://, http:// or https://`);
  }
  if (path.includes('\0')) throw new QuicksilverError('INVALID_METADATA', 'path contains a NUL byte');
  if (!isAbsolute(path)) throw new QuicksilverError('INVALID_METADATA', `relative path ${path}: give an absolute path under an allowed root`);
  if (path.split(/[\\/]/).includes('..')) throw new QuicksilverError('INVALID_METADATA', `path traversal ('..') in ${path}`);
  const normalized = resolve(path);
  if (allowedRoots.length === 0) throw new QuicksilverError('INVALID_METADATA', `file path ${normalized} refused: no allowed roots are configured`);
  if (!allowedRoots.some((root) => within(resolve(root), normalized))) {
    throw new QuicksilverError('INVALID_METADATA', `path ${normalized} is outside the allowed roots (${allowedRoots.join(', ')})`);
  }
  return { kind: 'file', path: normalized };
}

export interface ReadImageOptions extends ImageSources {
  maxBytes: number;
  /** Time allowed for one http(s) read: every redirect and the whole body. */
  httpTimeoutMs: number;
  /** Aborts a read (e.g. the worker is stopping): a retryable SHUTTING_DOWN. */
  signal?: AbortSignal;
  /** The buffer a file of `size` bytes is read into (default Buffer.allocUnsafe; a worker lends pooled ones). */
  allocate?: (size: number) => Buffer;
}

/**
 * Reads an image straight from storage. Final codes: INVALID_METADATA (URI refused, not found, HTTP
 * 4xx, redirect outside the prefixes), IMAGE_EMPTY, IMAGE_TOO_LARGE. Retryable: UNAVAILABLE (storage
 * unreachable, a file missing because its allowed root is missing, not a folder or empty (an unmounted
 * share), timeout, HTTP 5xx/408/429, connection cut mid-body), SHUTTING_DOWN.
 */
export async function readImage(uri: string, options: ReadImageOptions): Promise<Buffer> {
  const location = checkImageUri(uri, options);
  const bytes = location.kind === 'file' ? await readFileUnderRoots(location.path, options) : await fetchImage(location.url, options);
  if (bytes.length === 0) throw new QuicksilverError('IMAGE_EMPTY', `${uri} has zero bytes`);
  return bytes;
}

async function readFileUnderRoots(path: string, options: ReadImageOptions): Promise<Buffer> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const rootProblem = code === 'ENOENT' || code === 'ENOTDIR' ? await unavailableRoot(path, options.allowedRoots) : undefined;
    if (rootProblem) throw new QuicksilverError('UNAVAILABLE', `cannot read ${path}: ${rootProblem}`, { retryable: true });
    throw new QuicksilverError(code === 'ENOENT' ? 'INVALID_METADATA' : 'UNAVAILABLE', `cannot read ${path}: ${code ?? (error as Error).message}`,
      { retryable: code !== 'ENOENT' });
  }
  const underRoots = async (fresh: boolean) => (await Promise.all(options.allowedRoots.map((root) => realRoot(root, fresh)))).some((root) => within(root, real));
  // A cached root that no longer matches is resolved again (a root symlink pointed elsewhere since).
  if (!(await underRoots(false)) && !(await underRoots(true))) {
    throw new QuicksilverError('INVALID_METADATA', `${path} resolves to ${real}, outside the allowed roots`);
  }
  // open, fstat, read, close: each is a trip to libuv's thread pool, which sharp's decodes keep busy.
  // Non-blocking open: a FIFO or device answers at once (then refused as not a regular file) instead of
  // holding a pool thread; no following a symlink swapped in since realpath.
  const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new QuicksilverError('INVALID_METADATA', `${path} is not a regular file`);
    if (stats.size > options.maxBytes) throw new QuicksilverError('IMAGE_TOO_LARGE', `${path} has ${stats.size} bytes, over the limit of ${options.maxBytes}`);
    const bytes = (options.allocate ?? Buffer.allocUnsafe)(stats.size);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) break; // shrank since fstat: return what is there (the caller checks size and checksum)
      filled += bytesRead;
    }
    return filled === bytes.length ? bytes : bytes.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

/**
 * Why a file under an allowed root may be missing for now rather than for good: its root is missing,
 * not a folder, or empty (an unmounted share leaves its empty mount point). Undefined when the roots
 * holding `path` are folders with entries: then a missing file is really missing.
 */
async function unavailableRoot(path: string, allowedRoots: readonly string[]): Promise<string | undefined> {
  for (const root of allowedRoots.filter((r) => within(resolve(r), path))) {
    try {
      const dir = await opendir(root);
      try {
        if ((await dir.read()) === null) return `the allowed root ${root} is empty (not mounted?)`;
      } finally {
        await dir.close().catch(() => {});
      }
    } catch (error) {
      return `the allowed root ${root} is not available (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}: not mounted?)`;
    }
  }
  return undefined;
}

/** Real paths of allowed roots, resolved once each (`fresh` resolves again; a root not there yet is resolved again next time). */
const realRoots = new Map<string, string>();
async function realRoot(root: string, fresh = false): Promise<string> {
  const known = fresh ? undefined : realRoots.get(root);
  if (known) return known;
  try {
    const real = await realpath(root);
    realRoots.set(root, real);
    return real;
  } catch {
    return resolve(root);
  }
}

export const MAX_REDIRECTS = 5;
/** Statuses worth another try later; every other non-2xx answer is final. */
const RETRYABLE_STATUS = (status: number) => status >= 500 || status === 408 || status === 425 || status === 429;
const isRedirect = (status: number) => [301, 302, 303, 307, 308].includes(status);

async function fetchImage(url: URL, options: ReadImageOptions): Promise<Buffer> {
  const timeout = AbortSignal.timeout(options.httpTimeoutMs);
  const refused = new AbortController(); // drops the connection once we refuse the body
  const signal = AbortSignal.any([timeout, refused.signal, ...(options.signal ? [options.signal] : [])]);
  let current = url;
  try {
    for (let redirects = 0; ; redirects++) {
      // Images are compressed already; identity also keeps the byte count that of the transfer.
      const response = await fetch(current, { signal, redirect: 'manual', headers: { 'accept-encoding': 'identity' } });
      const answered = `${current.href} answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
      if (isRedirect(response.status)) {
        await response.body?.cancel();
        const location = response.headers.get('location');
        if (!location) throw new QuicksilverError('INVALID_METADATA', `${answered} without a Location`);
        if (redirects >= MAX_REDIRECTS) throw new QuicksilverError('INVALID_METADATA', `${url.href}: more than ${MAX_REDIRECTS} redirects`);
        const next = new URL(location, current);
        const problem = urlProblem(next, options.allowedUrlPrefixes);
        if (problem) throw new QuicksilverError('INVALID_METADATA', `${current.href} redirected to ${shown(next)}, which ${problem}`);
        current = next;
        continue;
      }
      if (!response.ok) {
        await response.body?.cancel();
        if (RETRYABLE_STATUS(response.status)) throw new QuicksilverError('UNAVAILABLE', answered);
        throw new QuicksilverError('INVALID_METADATA', response.status === 404 || response.status === 410 ? `${answered}: no image there` : answered);
      }
      return await readBody(response, current, options.maxBytes, refused);
    }
  } catch (error) {
    if (error instanceof QuicksilverError) throw error;
    if (timeout.aborted) throw new QuicksilverError('UNAVAILABLE', `${current.href}: no complete answer within ${options.httpTimeoutMs} ms`);
    if (options.signal?.aborted) throw new QuicksilverError('SHUTTING_DOWN', `reading ${current.href} was abandoned`);
    const cause = (error as Error & { cause?: Error & { code?: string } }).cause;
    throw new QuicksilverError('UNAVAILABLE', `cannot read ${current.href}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
}

/** The body, refused as soon as it is (declared or found) over `maxBytes`: a huge body is never buffered. */
async function readBody(response: Response, url: URL, maxBytes: number, refused: AbortController): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    refused.abort();
    throw new QuicksilverError('IMAGE_TOO_LARGE', `${url.href} declares ${declared} bytes, over the limit of ${maxBytes}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body ?? []) {
    size += (chunk as Uint8Array).length;
    if (size > maxBytes) {
      refused.abort();
      throw new QuicksilverError('IMAGE_TOO_LARGE', `${url.href} sent more than the limit of ${maxBytes} bytes`);
    }
    chunks.push(Buffer.from(chunk as Uint8Array));
  }
  return Buffer.concat(chunks);
}
