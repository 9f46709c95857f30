// Starts a local nats-server with JetStream (for the demo and the tests): found on PATH, listening
// on 127.0.0.1 on a free port (or a given one, so it can be restarted on the same address), storing
// its data under `dir`. With `auth` it requires credentials (user/password or a token), written to
// a server config file; with `users` several users, each with its own subject permissions; with
// `tls` it serves TLS with the given PEM files. Permission violations the server logs are kept (violations).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderNatsAuthorization, type NatsPermissions } from './nats-permissions.js';

export const NATS_INSTALL_HINT = 'install it with `sudo apt-get install -y nats-server` (Debian/Ubuntu) or from https://github.com/nats-io/nats-server/releases';

let found: string | undefined;

/**
 * The nats-server to run: the one on PATH, else Debian's package location (/usr/sbin, which a
 * non-root user's PATH lacks), else undefined.
 */
export function natsServerBinary(): string | undefined {
  found ??= ['nats-server', '/usr/sbin/nats-server', '/usr/local/sbin/nats-server']
    .find((candidate) => spawnSync(candidate, ['--version'], { stdio: 'ignore' }).status === 0);
  return found;
}

export function natsServerAvailable(): boolean {
  return natsServerBinary() !== undefined;
}

export interface NatsServerSecurity {
  /** Require these credentials from every client. */
  auth?: { user: string; password: string } | { token: string };
  /** A whole config file's text (e.g. a shipped nats.conf) with the environment its `$VARIABLES` come from; listen address, port and store dir are the flags'. */
  config?: { text: string; env: Record<string, string> };
  /** Instead of `auth`: several users, each with optional `permissions { publish, subscribe }`. */
  users?: Array<{ user: string; password: string; permissions?: NatsPermissions }>;
  /** Serve TLS: server certificate and key (PEM), and the CA that must sign client certificates (mutual TLS) when set. */
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
}

export class NatsServerProcess {
  private child: ChildProcess | undefined;
  port = 0;
  /** Every `Publish Violation` / `Subscription Violation` line the server logged (all starts). */
  readonly violations: string[] = [];

  constructor(private readonly dir: string, private readonly security: NatsServerSecurity = {}) {}

  /** Arguments for the security options: a config file (auth/TLS blocks), as flags would expose secrets in `ps`. */
  private securityArgs(): string[] {
    const { auth, users, tls, config } = this.security;
    const file = join(this.dir, 'nats-server.conf');
    if (config) {
      if (auth || users || tls) throw new Error('NatsServerSecurity: config replaces auth, users and tls');
      writeFileSync(file, config.text, { mode: 0o600 });
      return ['-c', file];
    }
    if (!auth && !users && !tls) return [];
    if (auth && users) throw new Error('NatsServerSecurity: auth or users, not both');
    const quote = (value: string) => JSON.stringify(value);
    const lines: string[] = [];
    if (users) lines.push(renderNatsAuthorization(users.map((u) => ({ ...u, password: quote(u.password) }))));
    if (auth && 'token' in auth) lines.push(`authorization { token: ${quote(auth.token)} }`);
    else if (auth) lines.push(`authorization { user: ${quote(auth.user)}, password: ${quote(auth.password)} }`);
    if (tls) {
      lines.push(`tls { cert_file: ${quote(tls.certFile)}, key_file: ${quote(tls.keyFile)}${tls.clientCaFile ? `, ca_file: ${quote(tls.clientCaFile)}, verify: true` : ''} }`);
    }
    writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
    return ['-c', file];
  }

  /** The running server's process id (undefined when stopped). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts the server; with `port` 0 the first start picks a free port and later restarts reuse it. */
  async start(port = this.port, timeoutMs = 10_000): Promise<void> {
    const binary = natsServerBinary();
    if (!binary) throw new Error(`nats-server not found on PATH nor in /usr/sbin: ${NATS_INSTALL_HINT}`);
    const portsDir = join(this.dir, 'ports');
    mkdirSync(portsDir, { recursive: true });
    mkdirSync(this.dir, { recursive: true });
    const child = spawn(binary, [...this.securityArgs(), '-a', '127.0.0.1', '-p', String(port || -1), '-js', '-sd', join(this.dir, 'jetstream'), '--ports_file_dir', portsDir], {
      stdio: ['ignore', 'ignore', 'pipe'], env: this.security.config ? { ...process.env, ...this.security.config.env } : process.env,
    });
    this.child = child;
    let stderr = '';
    let partial = '';
    child.stderr!.on('data', (data: Buffer) => {
      stderr = (stderr + data.toString()).slice(-4000);
      const lines = (partial + data.toString()).split('\n');
      partial = lines.pop()!;
      this.violations.push(...lines.filter((line) => / Violation /.test(line)));
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}: ${stderr}`);
      const file = readdirSync(portsDir).find((name) => name.endsWith(`_${child.pid}.ports`));
      if (file && stderr.includes('Server is ready')) {
        const ports = JSON.parse(readFileSync(join(portsDir, file), 'utf8')) as { nats: string[] };
        this.port = Number(new URL(ports.nats[0]!).port);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill('SIGKILL');
    throw new Error(`nats-server did not become ready within ${timeoutMs} ms: ${stderr}`);
  }

  /** Kills the server at once (SIGKILL: no flush, as in a crash); start() brings it back on the same port and store. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Stops the server (SIGTERM, then SIGKILL after 5 s). */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
