import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { repoRoot } from '../../common/src/paths.js';
import { renderConfigurationReference } from '../../cli/src/config-reference.js';

it('docs/configuration.md matches the config schemas', { timeout: 5000 }, () => {
  const committed = readFileSync(join(repoRoot(), 'docs', 'configuration.md'), 'utf8');
  assert.equal(committed, renderConfigurationReference(),
    'docs/configuration.md is stale: run `npm run build && node bin/quicksilver.js config-reference > docs/configuration.md`');
});

it('docs/schemas/verdict-event.schema.json matches VerdictEventSchema', { timeout: 5000 }, async () => {
  const { z } = await import('zod');
  const { VerdictEventSchema } = await import('../../common/src/verdict-event.js');
  const committed = readFileSync(join(repoRoot(), 'docs', 'schemas', 'verdict-event.schema.json'), 'utf8');
  assert.equal(committed, `${JSON.stringify(z.toJSONSchema(VerdictEventSchema), null, 2)}\n`,
    'stale: run `npm run build && node bin/quicksilver.js verdict-schema > docs/schemas/verdict-event.schema.json`');
});
