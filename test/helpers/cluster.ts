// Starts a real Quicksilver cluster inside the test process: nats-server (child process, random
// port), a coordinator and N workers (real gRPC over loopback, real onnxruntime, the reference model).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Logger } from '../../common/src/logger.js';
import { loadConfig } from '../../common/src/config.js';
import { createRegistry } from '../../common/src/metrics.js';
import { NatsServerProcess, type NatsServerSecurity } from '../../common/src/nats-server-process.js';
import { repoRoot } from '../../common/src/paths.js';
import { CoordinatorConfigSchema, type CoordinatorConfig } from '../../coordinator/src/config.js';
import { Coordinator } from '../../coordinator/src/coordinator.js';
import { WorkerConfigSchema, type WorkerConfig } from '../../gpu-worker/src/config.js';
import { Worker } from '../../gpu-worker/src/worker.js';

export const silentLogger = pino({ level: process.env.QS_TEST_LOG_LEVEL ?? 'silent' });
/** The committed reference models (QS_TEST_MODELS_DIR overrides it while developing). */
export const referenceModelsDir = () => process.env.QS_TEST_MODELS_DIR ?? join(repoRoot(), 'models');

export async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface Cluster {
  dir: string;
  nats: NatsServerProcess;
  coordinator: Coordinator;
  workers: Worker[];
  coordinatorAddress: string;
  addWorker(overrides?: Partial<WorkerConfig>): Promise<Worker>;
  stop(): Promise<void>;
}

export async function startCluster(options: {
  workers?: number;
  coordinator?: Partial<CoordinatorConfig>;
  worker?: Partial<WorkerConfig>;
  /** Credentials/TLS the nats-server requires (the coordinator's nats* settings must match). */
  nats?: NatsServerSecurity;
  /** Logger of the coordinator and workers (default: silent). */
  logger?: Logger;
} = {}): Promise<Cluster> {
  const logger = options.logger ?? silentLogger;
  const dir = mkdtempSync(join(tmpdir(), 'qs-cluster-'));
  const nats = new NatsServerProcess(join(dir, 'nats'), options.nats);
  await nats.start();
  const coordinatorConfig = loadConfig(CoordinatorConfigSchema, 'QS_TEST_UNUSED', {
    flags: { grpcAddress: '127.0.0.1:0', metricsHost: '127.0.0.1', metricsPort: 0, natsServers: [nats.url], outboxDir: join(dir, 'outbox'), logLevel: 'silent', ...options.coordinator },
  });
  const coordinator = new Coordinator(coordinatorConfig, logger, createRegistry('coordinator'));
  await coordinator.start();
  const coordinatorAddress = `127.0.0.1:${coordinator.grpc.port}`;
  const workers: Worker[] = [];
  let counter = 0;
  const addWorker = async (overrides: Partial<WorkerConfig> = {}) => {
    const config = loadConfig(WorkerConfigSchema, 'QS_TEST_UNUSED', {
      flags: {
        coordinatorAddress, workerId: `test-worker-${++counter}`, modelsDir: referenceModelsDir(), healthAddress: '127.0.0.1:0',
        metricsHost: '127.0.0.1', metricsPort: 0, decodeConcurrency: 1, intraOpThreads: 1, executionProviders: ['cpu'], logLevel: 'silent',
        ...options.worker, ...overrides,
      },
    });
    const worker = new Worker(config, logger, createRegistry('gpu-worker'));
    await worker.start();
    workers.push(worker);
    await until(() => coordinator.dispatcher.connectedWorkers.some((w) => w.id === config.workerId), 15_000, `${config.workerId} to register`);
    return worker;
  };
  for (let i = 0; i < (options.workers ?? 2); i++) await addWorker();
  return {
    dir, nats, coordinator, workers, coordinatorAddress, addWorker,
    async stop() {
      const grace = AbortSignal.timeout(5000);
      for (const worker of workers) await worker.stop(grace);
      await coordinator.stop(grace);
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
