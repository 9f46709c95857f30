// Agent configuration: one flat schema (defaults < --config JSON < QS_AGENT_* env < flags), and
// the fully-resolved options the Agent runs with (absolute folders, derived done/rejected dirs).
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { clientSecurityFields } from '../../common/src/security-config.js';

export const AGENT_ENV_PREFIX = 'QS_AGENT';

/** Host name made into a valid station id ([A-Za-z0-9_-]{1,64}). */
export function stationIdFromHostname(name: string = hostname()): string {
  const cleaned = name.split('.')[0].replace(/[^A-Za-z0-9_-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
  return cleaned || 'station';
}

const milliseconds = z.number().int().min(1);

/** '', an absolute path, or a file:/// or http(s) URL the spooled names can be appended to (no query, fragment or credentials). */
function isSpoolUriPrefix(prefix: string): boolean {
  if (prefix === '' || (prefix.startsWith('/') && !prefix.includes('\0'))) return true;
  try {
    const url = new URL(prefix);
    const schemeOk = url.protocol === 'file:' ? prefix.toLowerCase().startsWith('file:///') : /^https?:$/.test(url.protocol) && url.hostname !== '';
    return schemeOk && !url.search && !url.hash && !prefix.includes('#') && !url.username && !url.password;
  } catch {
    return false;
  }
}

export const agentConfigSchema = z.object({
  coordinatorAddress: z.string().min(1).default('127.0.0.1:50051').describe('Coordinator gRPC address, host:port'),
  ...clientSecurityFields,
  stationId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1..64 chars of [A-Za-z0-9_-]')
    .default(stationIdFromHostname())
    .describe('Scanner station id stamped on every image and key; defaults to this host name, sanitized'),
  watchDir: z.string().min(1).default('./hot-folder').describe('Hot folder the conveyor writes images into (watched at depth 0)'),
  doneDir: z.string().default('').describe("Where images with a verdict are filed, with <file>.verdict.json ('' = <watchDir>/done)"),
  rejectedDir: z.string().default('').describe("Where terminally rejected files are filed, with <file>.reason.json ('' = <watchDir>/rejected)"),
  spoolDir: z.string().default('').describe("Durable spool: images wait here (fsync'd) from pick-up until their outcome is filed ('' = <watchDir>/spool; same file system as the hot folder avoids a copy)"),
  spoolMaxBytes: z.number().int().min(1).default(10 * 1024 ** 3).describe('Spool disk budget in bytes; when full, new files stay in the hot folder (alarm: log + quicksilver_agent_spool_full)'),
  spoolMaxImages: z.number().int().min(1).default(10_000).describe('Spool budget in images; when full, new files stay in the hot folder'),
  spoolUriPrefix: z.string()
    .refine(isSpoolUriPrefix, "must be '', an absolute path, or a file:/// or http(s) URL without query or fragment (percent-encode '#', '?' and '%' in its path)")
    .default('')
    .describe("Send images by reference: where the workers read this station's spool (e.g. file:///mnt/stations/st-3/spool/ on shared storage they mount, or the spool folder itself when they run on this host); each image goes as <prefix><sha256>.img and no bytes cross the network to the coordinator. The workers must allow it (referenceAllowedRoots); an image none can read is sent with its bytes ('' = always send the bytes)"),
  referencePauseMs: milliseconds.default(60_000).describe('After an image by reference no worker could read (or that got no verdict in time), send every image\'s bytes for this long; then one image goes by reference as a probe (the others with their bytes) until its verdict shows references work again'),
  maxInFlight: z.number().int().min(1).max(64).default(4).describe('Images sent and awaiting a verdict at once on the stream'),
  stabilityThresholdMs: milliseconds.default(1000).describe('A file is complete once its size has not changed for this long'),
  pollIntervalMs: milliseconds.default(100).describe('How often a growing file is checked for completion'),
  modelName: z.string().default('').describe("Model the coordinator should run ('' = its default model)"),
  reconnectBaseDelayMs: milliseconds.default(250).describe('First delay before reconnecting a lost stream (doubles, jittered)'),
  reconnectMaxDelayMs: milliseconds.default(10_000).describe('Cap of the reconnect delay'),
  retryBaseDelayMs: milliseconds.default(1000).describe('First delay before resending an image after a retryable rejection (doubles, jittered)'),
  retryMaxDelayMs: milliseconds.default(30_000).describe('Cap of the resend delay after retryable rejections'),
  verdictTimeoutMs: milliseconds.default(120_000).describe('An image sent without a verdict for this long makes the agent recycle the stream and resend'),
  shutdownGraceMs: milliseconds.default(10_000).describe('On SIGTERM, how long to wait for in-flight verdicts before closing'),
  metricsHost: z.string().default('127.0.0.1').describe('Interface of the /metrics HTTP server'),
  metricsPort: z.number().int().min(0).max(65535).default(9466).describe('Port of the /metrics HTTP server (0 picks a free one)'),
  display: z.boolean().default(true).describe('Print the one-line operator display for each outcome on stdout'),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info').describe('pino log level (logs go to stderr)'),
});

export type AgentConfig = z.infer<typeof agentConfigSchema>;

/** What the Agent runs with: the config with absolute folders (done/rejected/spool derived when ''). */
export type AgentOptions = AgentConfig;

export function resolveAgentOptions(config: AgentConfig, cwd: string = process.cwd()): AgentOptions {
  const watchDir = resolve(cwd, config.watchDir);
  return {
    ...config,
    watchDir,
    doneDir: config.doneDir ? resolve(cwd, config.doneDir) : resolve(watchDir, 'done'),
    rejectedDir: config.rejectedDir ? resolve(cwd, config.rejectedDir) : resolve(watchDir, 'rejected'),
    spoolDir: config.spoolDir ? resolve(cwd, config.spoolDir) : resolve(watchDir, 'spool'),
  };
}
