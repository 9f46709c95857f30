// Locates the repository root (the folder with Quicksilver's package.json), from sources or dist/.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function repoRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'quicksilver') return (cached = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the Quicksilver repository root (package.json named "quicksilver")');
    dir = parent;
  }
}

/** The `quicksilver` CLI entry, for starting processes. */
export const cliEntry = () => join(repoRoot(), 'bin', 'quicksilver.js');
