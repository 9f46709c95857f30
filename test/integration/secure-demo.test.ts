// Real processes with access control on: `quicksilver demo --secure` starts nats-server requiring a
// password, a coordinator with TLS + mutual TLS + a token file, workers authenticated by client
// certificate and an agent by token (all from scripts/dev-certs.sh), and every sheet gets its verdict,
// published once to the password-protected JetStream. A plain `coordinator` on a non-loopback address
// without TLS refuses to start.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { cliEntry } from '../../common/src/paths.js';

function runCli(args: string[], timeoutMs: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliEntry(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('exit', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

describe('secure deployment with real processes', { timeout: 200_000 }, () => {
  it('demo --secure: TLS, mTLS workers, token agent, NATS password; every sheet answered and published once', async () => {
    const result = await runCli(['demo', '--secure', '--count', '3', '--workers', '1', '--width', '600', '--height', '800', '--interval-ms', '0', '--metrics-port', '0', '--timeout-s', '120'], 180_000);
    assert.equal(result.status, 0, `demo failed:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /dev CA, certificates and tokens in/);
    assert.match(result.stdout, /verdicts\s+3\s+rejected 0\s+missing 0/);
    assert.match(result.stdout, /3 verdict events received on quicksilver\.verdict\.>; 3 stored in JetStream/);
  });

  it('a coordinator reachable from other hosts without TLS refuses to start, naming what to configure', async () => {
    const result = await runCli(['coordinator', '--grpc-address', '0.0.0.0:0', '--metrics-port', '0', '--log-level', 'error'], 30_000);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /CONFIG_INVALID.*TLS \(tlsCertFile, tlsKeyFile\) is not configured.*allowInsecure/s);
  });
});
