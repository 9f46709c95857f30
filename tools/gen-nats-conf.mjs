#!/usr/bin/env node
// Writes the users/permissions part of deploy/docker/nats.conf and deploy/k8s/config/nats.conf (between the
// BEGIN/END generated markers) from common/src/nats-permissions.ts, via the build (run `npm run build` first).
// --check: fail when a committed file differs (test/unit/deploy-manifests.test.ts checks the same).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { generatedPart, shippedNatsAuthorization } = await import(join(root, 'dist/common/src/nats-permissions.js'));
const check = process.argv.includes('--check');
let stale = 0;
for (const file of ['deploy/docker/nats.conf', 'deploy/k8s/config/nats.conf']) {
  const path = join(root, file);
  const text = readFileSync(path, 'utf8');
  const current = generatedPart(text);
  if (current === undefined) throw new Error(`${file}: no generated part (markers) to replace`);
  const wanted = shippedNatsAuthorization();
  if (current === wanted) continue;
  if (check) {
    console.error(`${file}: stale; run npm run build && node tools/gen-nats-conf.mjs`);
    stale++;
  } else {
    writeFileSync(path, text.replace(current, wanted));
    console.log(`${file}: updated`);
  }
}
process.exit(stale ? 1 : 0);
