// AccessPolicy (pure): token and certificate identities, roles, station/worker id binding, token file
// validation without echoing secrets; and the coordinator refusing an open port beyond loopback.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AccessPolicy, AuthError } from '../../common/src/access-control.js';
import { loadConfig } from '../../common/src/config.js';
import { QuicksilverError } from '../../common/src/errors.js';
import { createRegistry } from '../../common/src/metrics.js';
import { isLoopbackAddress } from '../../common/src/security-config.js';
import { CoordinatorConfigSchema } from '../../coordinator/src/config.js';
import { Coordinator } from '../../coordinator/src/coordinator.js';
import { silentLogger } from '../helpers/cluster.js';

const tokens = { stations: { s1: 'station-one-token-0123456789', s2: 'station-two-token-0123456789' }, workers: { w1: 'worker-one-token-0123456789' }, curators: { c1: 'curator-one-token-0123456789' } };
const refusal = (reason: string, code: string) => (error: unknown) => error instanceof AuthError && error.reason === reason && error.code === code;

describe('AccessPolicy', { timeout: 5000 }, () => {
  it('identifies callers by token or verified certificate CN and checks role and claimed id', () => {
    const policy = new AccessPolicy({ tokens, clientCertificates: true });
    assert.deepEqual(policy.authenticate('station', { authorization: 'Bearer station-two-token-0123456789' }), { role: 'station', id: 's2', via: 'token' });
    assert.deepEqual(policy.authenticate('worker', { certificateCn: 'worker:gpu-a' }), { role: 'worker', id: 'gpu-a', via: 'certificate' });
    assert.throws(() => policy.authenticate('station', {}), refusal('missing_credentials', 'UNAUTHENTICATED'));
    assert.throws(() => policy.authenticate('station', { authorization: 'Bearer station-one-token-012345678X' }), refusal('invalid_token', 'UNAUTHENTICATED'));
    assert.throws(() => policy.authenticate('station', { authorization: 'Basic c3RhdGlvbg==' }), refusal('missing_credentials', 'UNAUTHENTICATED'));
    assert.throws(() => policy.authenticate('station', { authorization: 'Bearer worker-one-token-0123456789' }), refusal('wrong_role', 'PERMISSION_DENIED'));
    assert.throws(() => policy.authenticate('station', { certificateCn: 'conveyor-1' }), refusal('invalid_certificate_identity', 'UNAUTHENTICATED'));
    const s1 = policy.authenticate('station', { authorization: 'bearer station-one-token-0123456789' });
    policy.authorize(s1, 's1');
    assert.throws(() => policy.authorize(s1, 's2'), refusal('identity_mismatch', 'PERMISSION_DENIED'));
  });

  it('lets a worker\'s credential register its bulk process (<id>-bulk) too, and nothing else', () => {
    const policy = new AccessPolicy({ tokens, clientCertificates: true });
    const w1 = policy.authenticate('worker', { authorization: 'Bearer worker-one-token-0123456789' });
    policy.authorize(w1, 'w1');
    policy.authorize(w1, 'w1-bulk');
    for (const other of ['w1-bulk-bulk', 'w2-bulk', 'w1-bulkx', 'w1bulk']) {
      assert.throws(() => policy.authorize(w1, other), refusal('identity_mismatch', 'PERMISSION_DENIED'), other);
    }
    const s1 = policy.authenticate('station', { authorization: 'Bearer station-one-token-0123456789' });
    assert.throws(() => policy.authorize(s1, 's1-bulk'), refusal('identity_mismatch', 'PERMISSION_DENIED'));
    const certified = policy.authenticate('worker', { certificateCn: 'worker:gpu-a' });
    policy.authorize(certified, 'gpu-a-bulk');
  });

  it('knows curators (feedback) by token or certificate, and keeps them out of the station and worker roles', () => {
    const policy = new AccessPolicy({ tokens, clientCertificates: true });
    const c1 = policy.authenticate('curator', { authorization: 'Bearer curator-one-token-0123456789' });
    assert.deepEqual(c1, { role: 'curator', id: 'c1', via: 'token' });
    assert.deepEqual(policy.authenticate('curator', { certificateCn: 'curator:herbarium-lab' }), { role: 'curator', id: 'herbarium-lab', via: 'certificate' });
    assert.throws(() => policy.authenticate('station', { authorization: 'Bearer curator-one-token-0123456789' }), refusal('wrong_role', 'PERMISSION_DENIED'));
    assert.throws(() => policy.authenticate('curator', { authorization: 'Bearer station-one-token-0123456789' }), refusal('wrong_role', 'PERMISSION_DENIED'));
    assert.throws(() => policy.authorize(c1, 'someone-else'), refusal('identity_mismatch', 'PERMISSION_DENIED'));
  });

  it('without a token file or client CA nothing is enforced; a certificate alone is not an identity without mTLS', () => {
    const open = new AccessPolicy({ clientCertificates: false });
    assert.equal(open.enforced, false);
    open.authorize(open.authenticate('station', {}), 'any-station');
    const tokensOnly = new AccessPolicy({ tokens, clientCertificates: false });
    assert.throws(() => tokensOnly.authenticate('station', { certificateCn: 'station:s1' }), refusal('missing_credentials', 'UNAUTHENTICATED'));
  });

  it('rejects a bad token file naming the problem, never its values', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qs-tokens-'));
    const file = join(dir, 'tokens.json');
    writeFileSync(file, JSON.stringify({ stations: { s1: 'short-secret' } }));
    assert.throws(() => AccessPolicy.readTokenFile(file), (error: unknown) =>
      error instanceof QuicksilverError && error.code === 'CONFIG_INVALID' && /stations\.s1: tokens must be at least 16/.test(error.message) && !error.message.includes('short-secret'));
    writeFileSync(file, JSON.stringify({ station: {} }));
    assert.throws(() => AccessPolicy.readTokenFile(file), /CONFIG_INVALID|Unrecognized key/);
  });
});

describe('coordinator exposure guard', { timeout: 5000 }, () => {
  const config = (flags: Record<string, unknown>) => loadConfig(CoordinatorConfigSchema, 'QS_TEST_UNUSED', { flags: { metricsPort: 0, logLevel: 'silent', ...flags } });

  it('refuses plaintext or unauthenticated gRPC on a non-loopback address unless allowInsecure', () => {
    assert.throws(() => new Coordinator(config({ grpcAddress: '0.0.0.0:0' }), silentLogger, createRegistry('coordinator')),
      (error: unknown) => error instanceof QuicksilverError && error.code === 'CONFIG_INVALID' && /TLS \(tlsCertFile, tlsKeyFile\) is not configured/.test(error.message));
    assert.doesNotThrow(() => new Coordinator(config({ grpcAddress: '0.0.0.0:0', allowInsecure: true }), silentLogger, createRegistry('coordinator')));
    assert.doesNotThrow(() => new Coordinator(config({ grpcAddress: '127.0.0.1:0' }), silentLogger, createRegistry('coordinator')));
    assert.equal(isLoopbackAddress('[::1]:50051'), true);
    assert.equal(isLoopbackAddress('localhost:1'), true);
    assert.equal(isLoopbackAddress('10.0.0.5:50051'), false);
  });
});
