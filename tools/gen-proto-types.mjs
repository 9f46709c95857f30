#!/usr/bin/env node
// Generates TypeScript types for proto/quicksilver/v1/*.proto into common/src/generated with
// exactly the options the runtime loader uses (proto/loader-options.json).
// --check: regenerate into a temp folder and fail when the committed files differ (stale).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const committed = join(root, 'common/src/generated');
const options = JSON.parse(readFileSync(join(root, 'proto/loader-options.json'), 'utf8'));
// Entry points are the files that declare a service; the files they import are generated through them.
const protos = readdirSync(join(root, 'proto/quicksilver/v1')).filter((f) => f.endsWith('.proto')).sort()
  .filter((f) => /^service /m.test(readFileSync(join(root, 'proto/quicksilver/v1', f), 'utf8')))
  .map((f) => `quicksilver/v1/${f}`);

function generate(outDir) {
  const args = ['--grpcLib=@grpc/grpc-js', '--importFileExtension=.js', '--includeComments', '--includeDirs', 'proto', '-O', outDir,
    `--longs=${options.longs}`, `--enums=${options.enums}`];
  if (options.keepCase) args.push('--keepCase');
  if (options.defaults) args.push('--defaults');
  if (options.oneofs) args.push('--oneofs');
  execFileSync(join(root, 'node_modules/.bin/proto-loader-gen-types'), [...args, ...protos], { stdio: 'inherit', cwd: root });
}

function listFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

if (process.argv.includes('--check')) {
  const tmp = mkdtempSync(join(tmpdir(), 'qs-proto-'));
  try {
    generate(tmp);
    const fresh = listFiles(tmp).map((p) => relative(tmp, p)).sort();
    const existing = (() => { try { return listFiles(committed).map((p) => relative(committed, p)).sort(); } catch { return []; } })();
    const stale = [...new Set([...fresh, ...existing])].filter((rel) => {
      try { return readFileSync(join(tmp, rel), 'utf8') !== readFileSync(join(committed, rel), 'utf8'); } catch { return true; }
    });
    if (stale.length) {
      console.error(`generated proto types are stale (${stale.join(', ')}): run 'npm run proto:gen' and commit`);
      process.exit(1);
    }
    console.log(`proto types up to date (${fresh.length} files)`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  rmSync(committed, { recursive: true, force: true });
  generate(committed);
}
