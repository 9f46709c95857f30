// Image URIs of a re-scan manifest: absolute file paths (or file:// URLs) under allowed roots, and
// http(s) URLs. checkImageUri is the lexical check done at submission; readImage is what a worker
// does, with symlinks resolved (realpath) before the roots are checked again.
import { open, realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QuicksilverError } from '../errors.js';

export type ImageLocation = { kind: 'file'; path: string } | { kind: 'http'; url: string };

const within = (root: string, path: string) => {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel) && rel.split(sep)[0] !== '..');
};

/** Parses and checks a URI; throws INVALID_METADATA naming the reason. An empty `allowedRoots` allows no file path. */
export function checkImageUri(uri: string, allowedRoots: readonly string[]): ImageLocation {
  if (/^https?:\/\//i.test(uri)) {
    try {
      const url = new URL(uri);
      if (!url.hostname) throw new Error('no host');
      return { kind: 'http', url: url.href };
    } catch {
      throw new QuicksilverError('INVALID_METADATA', `not a valid http(s) URL: ${uri}`);
    }
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

export interface ReadImageOptions {
  allowedRoots: readonly string[];
  maxBytes: number;
  httpTimeoutMs: number;
  signal?: AbortSignal;
}

/** Reads an image straight from storage. Codes: INVALID_METADATA (URI refused), IMAGE_EMPTY, IMAGE_TOO_LARGE, UNAVAILABLE (not found / unreachable). */
export async function readImage(uri: string, options: ReadImageOptions): Promise<Buffer> {
  const location = checkImageUri(uri, options.allowedRoots);
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
    throw new QuicksilverError(code === 'ENOENT' ? 'INVALID_METADATA' : 'UNAVAILABLE', `cannot read ${path}: ${code ?? (error as Error).message}`,
      { retryable: code !== 'ENOENT' });
  }
  const roots = await Promise.all(options.allowedRoots.map((root) => realpath(root).catch(() => resolve(root))));
  if (!roots.some((root) => within(root, real))) {
    throw new QuicksilverError('INVALID_METADATA', `${path} resolves to ${real}, outside the allowed roots`);
  }
  const handle = await open(real, 'r');
  try {
    const { size, isFile } = await handle.stat().then((s) => ({ size: s.size, isFile: s.isFile() }));
    if (!isFile) throw new QuicksilverError('INVALID_METADATA', `${path} is not a regular file`);
    if (size > options.maxBytes) throw new QuicksilverError('IMAGE_TOO_LARGE', `${path} has ${size} bytes, over the limit of ${options.maxBytes}`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

async function fetchImage(url: string, options: ReadImageOptions): Promise<Buffer> {
  const signal = AbortSignal.any([AbortSignal.timeout(options.httpTimeoutMs), ...(options.signal ? [options.signal] : [])]);
  let response: Response;
  try {
    response = await fetch(url, { signal, redirect: 'follow' });
  } catch (error) {
    throw new QuicksilverError('UNAVAILABLE', `cannot fetch ${url}: ${(error as Error).message}`);
  }
  if (response.status === 404 || response.status === 410) throw new QuicksilverError('INVALID_METADATA', `${url} answered ${response.status}`);
  if (!response.ok) throw new QuicksilverError('UNAVAILABLE', `${url} answered ${response.status}`);
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > options.maxBytes) {
    await response.body?.cancel();
    throw new QuicksilverError('IMAGE_TOO_LARGE', `${url} declares ${declared} bytes, over the limit of ${options.maxBytes}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body ?? []) {
    size += (chunk as Uint8Array).length;
    if (size > options.maxBytes) throw new QuicksilverError('IMAGE_TOO_LARGE', `${url} sent more than the limit of ${options.maxBytes} bytes`);
    chunks.push(Buffer.from(chunk as Uint8Array));
  }
  return Buffer.concat(chunks);
}
