// Settings of the `quicksilver rescan` commands (env prefix QS_RESCAN). The CLI talks to JetStream
// directly: it needs the NATS servers, and for submission the roots and URL prefixes images must lie under.
import { z } from 'zod';
import { UrlPrefixSchema } from '../../../common/src/rescan/image-uri.js';
import { natsSecurityFields } from '../../../common/src/security-config.js';

export const RESCAN_ENV_PREFIX = 'QS_RESCAN';

export const RescanClientConfigSchema = z.object({
  natsServers: z.array(z.string()).min(1).default(['nats://127.0.0.1:4222']).describe('NATS servers holding the re-scan streams (comma-separated)'),
  ...natsSecurityFields,
  allowedRoots: z.array(z.string()).default([]).describe('folders image paths of a manifest must lie under (workers check their own rescanAllowedRoots again); empty = no file paths'),
  allowedUrlPrefixes: z.array(UrlPrefixSchema).default([]).describe('http(s) URL prefixes (scheme://host[:port]/path/) image URLs of a manifest must start with (workers check their own rescanAllowedUrlPrefixes again); empty = no URLs'),
  model: z.string().default('mercury-cnn').describe('model ("name" or "name@version") a submitted job is classified with'),
  maxAttempts: z.number().int().min(1).default(3).describe('deliveries of a row before it is quarantined as a failure (crashes, timeouts, transient errors)'),
  ackWaitMs: z.number().int().min(1000).default(60_000).describe('how long a worker may hold a row before it is redelivered to another'),
  maxAckPending: z.number().int().min(1).default(4096).describe('rows of a job held by all workers together at most (size it to workers x their in-flight)'),
  publishWindow: z.number().int().min(1).default(512).describe('row publications awaiting their JetStream acknowledgement at once during submission'),
  checkpointRows: z.number().int().min(1).default(10_000).describe('rows between two submission checkpoints in the job record (a resumed submission checks at most this many rows one by one)'),
});
export type RescanClientConfig = z.infer<typeof RescanClientConfigSchema>;
