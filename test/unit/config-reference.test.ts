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
