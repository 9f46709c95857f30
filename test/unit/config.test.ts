import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AccessPolicy } from '../../common/src/access-control.js';
import { loadConfig } from '../../common/src/config.js';
import { QuicksilverError } from '../../common/src/errors.js';
import { COORDINATOR_ENV_PREFIX, CoordinatorConfigSchema } from '../../coordinator/src/config.js';
import { resolveDecodeConcurrency } from '../../gpu-worker/src/config.js';

describe('config loading', { timeout: 5000 }, () => {
  it('merges defaults < file < env < flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qs-config-'));
    const file = join(dir, 'coordinator.json');
    writeFileSync(file, JSON.stringify({ maxQueuedTasks: 11, taskTimeoutMs: 1000, defaultModel: 'from-file' }));
    const config = loadConfig(CoordinatorConfigSchema, COORDINATOR_ENV_PREFIX, {
      file,
      env: { QS_COORDINATOR_TASK_TIMEOUT_MS: '2000', QS_COORDINATOR_NATS_SERVERS: 'nats://a:1, nats://b:2', QS_COORDINATOR_DEFAULT_MODEL: 'from-env' },
      flags: { defaultModel: 'from-flag' },
    });
    assert.equal(config.maxQueuedTasks, 11);
    assert.equal(config.taskTimeoutMs, 2000);
    assert.deepEqual(config.natsServers, ['nats://a:1', 'nats://b:2']);
    assert.equal(config.defaultModel, 'from-flag');
    assert.equal(config.heartbeatIntervalMs, 2000, 'default kept');
  });

  it('names the field, its source and the problem on a bad value', () => {
    assert.throws(
      () => loadConfig(CoordinatorConfigSchema, COORDINATOR_ENV_PREFIX, { env: { QS_COORDINATOR_MAX_QUEUED_TASKS: 'lots' } }),
      (error: QuicksilverError) => error.code === 'CONFIG_INVALID' && /maxQueuedTasks \(from environment variable QS_COORDINATOR_MAX_QUEUED_TASKS\)/.test(error.message),
    );
    assert.throws(
      () => loadConfig(CoordinatorConfigSchema, COORDINATOR_ENV_PREFIX, { flags: { logLevel: 'loud' } }),
      (error: QuicksilverError) => /logLevel \(from flag --log-level\)/.test(error.message),
    );
  });

  it('refuses a heartbeat timeout shorter than two heartbeat intervals, naming both fields', () => {
    assert.throws(
      () => loadConfig(CoordinatorConfigSchema, COORDINATOR_ENV_PREFIX, { env: { QS_COORDINATOR_HEARTBEAT_INTERVAL_MS: '15000' } }),
      (error: QuicksilverError) => error.code === 'CONFIG_INVALID'
        && /heartbeatTimeoutMs \(10000\) must be at least 2 x heartbeatIntervalMs \(15000\)/.test(error.message),
    );
    assert.throws(
      () => loadConfig(CoordinatorConfigSchema, COORDINATOR_ENV_PREFIX, { flags: { heartbeatIntervalMs: 5000, heartbeatTimeoutMs: 9999 } }),
      (error: QuicksilverError) => error.code === 'CONFIG_INVALID' && /heartbeatTimeoutMs \(from flag --heartbeat-timeout-ms\)/.test(error.message),
    );
    const config = loadConfig(CoordinatorConfigSchema, COORDINATOR_ENV_PREFIX, { flags: { heartbeatIntervalMs: 5000, heartbeatTimeoutMs: 10_000 } });
    assert.equal(config.heartbeatTimeoutMs, 10_000, 'exactly 2 x the interval is accepted');
  });

  it('refuses a largest image that could never be admitted under the memory budget', () => {
    assert.throws(
      () => loadConfig(CoordinatorConfigSchema, COORDINATOR_ENV_PREFIX, { env: { QS_COORDINATOR_MAX_BUFFERED_BYTES: String(256 * 1024 * 1024) } }),
      (error: QuicksilverError) => error.code === 'CONFIG_INVALID'
        && /maxImageBytes \(314572800\) must be at most maxBufferedBytes x \(1 - realtimeReserveFraction\) = 201326592/.test(error.message),
    );
    const config = loadConfig(CoordinatorConfigSchema, COORDINATOR_ENV_PREFIX, { flags: { maxBufferedBytes: 256 * 1024 * 1024, maxImageBytes: 192 * 1024 * 1024 } });
    assert.equal(config.maxImageBytes, 192 * 1024 * 1024, "exactly the bulk room is accepted");
  });

  it('rejects unknown keys in a config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qs-config-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ maxQueuedTask: 1 }));
    assert.throws(() => loadConfig(CoordinatorConfigSchema, COORDINATOR_ENV_PREFIX, { file }), /unknown field 'maxQueuedTask'/);
  });

  it('reports a config or token file that is not JSON without quoting its text (it may hold secrets)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qs-config-'));
    const file = join(dir, 'tokens.json');
    writeFileSync(file, '{\n  "stations": { "conveyor-1": s3cr3t-station-token }\n}\n');
    for (const read of [() => AccessPolicy.readTokenFile(file), () => loadConfig(CoordinatorConfigSchema, COORDINATOR_ENV_PREFIX, { file })]) {
      assert.throws(read, (error: QuicksilverError) => error.code === 'CONFIG_INVALID'
        && new RegExp(`${file} is not valid JSON( at line 2, column \\d+)?$`).test(error.message) && !error.message.includes('s3cr3t'));
    }
  });

  it('rejects a misspelt environment variable of its own prefix, naming the nearest known one', () => {
    assert.throws(
      () => loadConfig(CoordinatorConfigSchema, COORDINATOR_ENV_PREFIX, { env: { QS_COORDINATOR_MAX_QUEUED_TASK: '5', QS_WORKER_ANYTHING: 'x', PATH: '/bin' } }),
      (error: QuicksilverError) => error.code === 'CONFIG_INVALID'
        && /unknown environment variable QS_COORDINATOR_MAX_QUEUED_TASK \(did you mean QS_COORDINATOR_MAX_QUEUED_TASKS\?\)/.test(error.message)
        && !error.message.includes('QS_WORKER_ANYTHING'),
    );
    // Another process's variables and empty ones are left alone.
    assert.equal(loadConfig(CoordinatorConfigSchema, COORDINATOR_ENV_PREFIX, { env: { QS_WORKER_ANYTHING: 'x', QS_COORDINATOR_TYPO: '' } }).maxQueuedTasks > 0, true);
  });
});

describe('worker decodeConcurrency', { timeout: 5000 }, () => {
  it('0 means the cores, one more on a bulk-only worker; a set value is kept', () => {
    assert.equal(resolveDecodeConcurrency({ decodeConcurrency: 0, priorities: ['realtime', 'bulk'] }, 4), 4);
    assert.equal(resolveDecodeConcurrency({ decodeConcurrency: 0, priorities: ['realtime'] }, 2), 2);
    assert.equal(resolveDecodeConcurrency({ decodeConcurrency: 0, priorities: ['bulk'] }, 4), 5, 'a bulk-only worker keeps no core free for conveyor sheets');
    assert.equal(resolveDecodeConcurrency({ decodeConcurrency: 3, priorities: ['bulk'] }, 16), 3);
  });
});
