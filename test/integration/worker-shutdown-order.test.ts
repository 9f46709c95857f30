// A worker stopped while a re-scan row is stuck on a slow http read announces its drain to the coordinator
// at once, so no conveyor task is sent to it while the row drains (it used to drain the re-scan rows first,
// taking conveyor work for the whole grace). In process: nats-server, coordinator and worker (real gRPC,
// real onnxruntime, the tiny CNN), a real node:http server that never answers, the real `quicksilver rescan submit`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { natsServerAvailable } from '../../common/src/nats-server-process.js';
import { cliEntry } from '../../common/src/paths.js';
import { startCluster, until } from '../helpers/cluster.js';
import { writeTinyCnnModel } from '../support/tiny-cnn-model.js';

describe('worker shutdown order', { timeout: 90_000, skip: !natsServerAvailable() && 'nats-server not installed' }, () => {
  it('announces the drain before waiting for a slow re-scan row', async (t) => {
    const lines: { msg?: string; worker?: string; time: number }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push({ ...(JSON.parse(line) as object), time: Date.now() }) });
    const requested: string[] = [];
    const server: Server = createServer((request) => void requested.push(request.url ?? '')); // never answers
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const cluster = await startCluster({ workers: 0, logger });
    t.after(() => cluster.stop());
    const modelsDir = join(cluster.dir, 'models');
    await writeTinyCnnModel(modelsDir, { size: 16 });
    const worker = await cluster.addWorker({
      workerId: 'drainer', modelsDir, natsServers: [cluster.nats.url], rescanAllowedUrlPrefixes: [base], rescanHttpTimeoutMs: 30_000,
    });

    const manifest = join(cluster.dir, 'slow.csv');
    writeFileSync(manifest, `barcode,image_uri\nSLOW1,${base}slow.jpg\n`);
    const cli = spawn(process.execPath, [cliEntry(), 'rescan', 'submit', '--manifest', manifest, '--job-id', 'slow', '--model', 'tiny-cnn',
      '--nats-servers', cluster.nats.url, '--allowed-url-prefixes', base], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = await once(cli, 'close');
    assert.equal(code, 0, stderr);
    await until(() => requested.includes('/slow.jpg'), 30_000, 'the worker reading the slow re-scan image');

    const stopAt = Date.now();
    const stopped = worker.stop(AbortSignal.timeout(4000));
    await until(() => lines.some((l) => l.msg === 'worker draining: no new tasks for it' && l.worker === 'drainer'), 10_000, 'the coordinator seeing the drain');
    const announcedAfterMs = lines.find((l) => l.msg === 'worker draining: no new tasks for it')!.time - stopAt;
    assert.ok(announcedAfterMs < 2000, `the drain was announced ${announcedAfterMs} ms after stop(), while the re-scan row still waited (grace 4000 ms)`);
    await stopped;
    cluster.workers.splice(cluster.workers.indexOf(worker), 1);
  });
});
