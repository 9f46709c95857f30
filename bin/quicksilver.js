#!/usr/bin/env node
// Entry point of the `quicksilver` command: runs the compiled CLI (npm run build first).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/cli/src/quicksilver.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  console.error('quicksilver: not built yet. Run `npm run build` in the repository first.');
  process.exit(1);
}
await import(cli.href);
