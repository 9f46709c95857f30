import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig, describeSchema } from '../../common/src/config.js';
import { backoffDelayMs } from '../../agent/src/backoff.js';
import { AGENT_ENV_PREFIX, agentConfigSchema, resolveAgentOptions, stationIdFromHostname } from '../../agent/src/config.js';

describe('agent config', { timeout: 5_000 }, () => {
  it('has a default and a description for every field', () => {
    for (const field of describeSchema(agentConfigSchema, AGENT_ENV_PREFIX)) {
      assert.notEqual(field.defaultValue, undefined, field.key);
      assert.ok(field.description.length > 10, field.key);
    }
  });

  it('derives done/ and rejected/ under the watch folder, as absolute paths', () => {
    const config = loadConfig(agentConfigSchema, AGENT_ENV_PREFIX, { env: { QS_AGENT_WATCH_DIR: 'conveyor', QS_AGENT_MAX_IN_FLIGHT: '8' } });
    const options = resolveAgentOptions(config, '/srv');
    assert.equal(options.watchDir, '/srv/conveyor');
    assert.equal(options.doneDir, '/srv/conveyor/done');
    assert.equal(options.rejectedDir, '/srv/conveyor/rejected');
    assert.equal(options.maxInFlight, 8);
    assert.equal(options.coordinatorAddress, '127.0.0.1:50051');
    const explicit = resolveAgentOptions(loadConfig(agentConfigSchema, AGENT_ENV_PREFIX, { flags: { doneDir: '/archive/done' } }), '/srv');
    assert.equal(explicit.doneDir, '/archive/done');
  });

  it('refuses an invalid station id, naming the field and its source', () => {
    assert.throws(
      () => loadConfig(agentConfigSchema, AGENT_ENV_PREFIX, { env: { QS_AGENT_STATION_ID: 'bad station!' } }),
      (error: Error & { code?: string }) => error.code === 'CONFIG_INVALID' && /stationId \(from environment variable QS_AGENT_STATION_ID\)/.test(error.message),
    );
  });

  it('takes a spool URI prefix that is a file:/// or http(s) URL or an absolute path, and refuses others naming the field', () => {
    for (const prefix of ['', 'file:///mnt/stations/scan-01/spool/', '/mnt/stations/scan-01/spool', 'https://files.example.org/scan-01/spool/']) {
      assert.equal(loadConfig(agentConfigSchema, AGENT_ENV_PREFIX, { env: { QS_AGENT_SPOOL_URI_PREFIX: prefix } }).spoolUriPrefix, prefix);
    }
    for (const prefix of ['spool/', 'file://host/spool/', 'ftp://files/spool/', 'file:///mnt/a#b/spool/', 'https://files.example.org/spool/?x=1', 'https://user:pw@files.example.org/spool/']) {
      assert.throws(
        () => loadConfig(agentConfigSchema, AGENT_ENV_PREFIX, { env: { QS_AGENT_SPOOL_URI_PREFIX: prefix } }),
        (error: Error & { code?: string }) => error.code === 'CONFIG_INVALID' && /spoolUriPrefix \(from environment variable QS_AGENT_SPOOL_URI_PREFIX\)/.test(error.message),
        prefix,
      );
    }
  });

  it('sanitizes host names into station ids', () => {
    assert.equal(stationIdFromHostname('scan-01.herbarium.example.org'), 'scan-01');
    assert.equal(stationIdFromHostname('Conveyor PC #2'), 'Conveyor-PC--2');
    assert.equal(stationIdFromHostname('...'), 'station');
    assert.match(stationIdFromHostname(), /^[A-Za-z0-9_-]{1,64}$/);
  });

  it('backs off exponentially with jitter, up to the cap', () => {
    assert.equal(backoffDelayMs(0, 100, 10_000, () => 0), 50);
    assert.equal(backoffDelayMs(0, 100, 10_000, () => 1), 100);
    assert.equal(backoffDelayMs(3, 100, 10_000, () => 1), 800);
    assert.equal(backoffDelayMs(30, 100, 10_000, () => 1), 10_000);
    assert.equal(backoffDelayMs(30, 100, 10_000, () => 0), 5_000);
  });
});
