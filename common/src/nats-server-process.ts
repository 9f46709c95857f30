// Starts a local nats-server with JetStream (for the demo and the tests): found on PATH, listening
// on 127.0.0.1 on a free port (or a given one, so it can be restarted on the same address), storing
// its data under `dir`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const NATS_INSTALL_HINT = 'install it with `sudo apt-get install -y nats-server` (Debian/Ubuntu) or from https://github.com/nats-io/nats-server/releases';

export function natsServerAvailable(): boolean {
  return spawnSync('nats-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export class NatsServerProcess {
  private child: ChildProcess | undefined;
  port = 0;

  constructor(private readonly dir: string) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts the server; with `port` 0 the first start picks a free port and later restarts reuse it. */
  async start(port = this.port, timeoutMs = 10_000): Promise<void> {
    if (!natsServerAvailable()) throw new Error(`nats-server not found on PATH: ${NATS_INSTALL_HINT}`);
    const portsDir = join(this.dir, 'ports');
    mkdirSync(portsDir, { recursive: true });
    const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port || -1), '-js', '-sd', join(this.dir, 'jetstream'), '--ports_file_dir', portsDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    let stderr = '';
    child.stderr!.on('data', (data: Buffer) => { stderr = (stderr + data.toString()).slice(-4000); });
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
