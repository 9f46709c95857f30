// Test helpers for metrics: scrape a /metrics endpoint, read one sample, run promtool, and send
// images one at a time over the real Inspect protocol.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { channelOptions, CHUNK_BYTES, grpc, inspectionProto } from '../../common/src/adapters/grpc-services.js';
import type { InspectResponse__Output } from '../../common/src/generated/quicksilver/v1/InspectResponse.js';
import type { Verdict__Output } from '../../common/src/generated/quicksilver/v1/Verdict.js';

export async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!response.ok) throw new Error(`/metrics on ${port} answered ${response.status}`);
  return response.text();
}

/** Value of the sample `name{labels}` whose labels include every given pair; undefined when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** `promtool check metrics` on an exposition; returns its complaints (empty = clean). Throws when promtool is missing. */
export function promtoolCheckMetrics(exposition: string): string {
  try {
    execFileSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    return '';
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message;
  }
}

/** Cuts bytes into pieces of `size` (the last one shorter). */
export const splitEvery = (size: number) => (bytes: Buffer): Buffer[] => {
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += size) pieces.push(bytes.subarray(offset, Math.min(offset + size, bytes.length)));
  return pieces;
};

export interface SentImage { key: string; barcode: string; bytes: Buffer; fileName: string }

/** One Inspect stream that sends an image and waits for its verdict before the next. */
export class SequentialInspector {
  private readonly client: InstanceType<typeof inspectionProto.Inspection>;
  private readonly call: ReturnType<InstanceType<typeof inspectionProto.Inspection>['Inspect']>;
  private readonly waiting = new Map<string, (response: InspectResponse__Output) => void>();

  constructor(address: string, private readonly stationId: string) {
    this.client = new inspectionProto.Inspection(address, grpc.credentials.createInsecure(), { ...channelOptions, 'grpc.use_local_subchannel_pool': 1 });
    this.call = this.client.Inspect();
    this.call.on('data', (response: InspectResponse__Output) => {
      if (response.accepted) return;
      const key = response.verdict?.idempotencyKey ?? response.rejection?.idempotencyKey ?? '';
      this.waiting.get(key)?.(response);
    });
    this.call.on('error', () => {});
  }

  /** Sends `image` in the chunks `split` cuts it into (default: CHUNK_BYTES each, as the agent does). */
  async inspect(image: SentImage, split: (bytes: Buffer) => Buffer[] = splitEvery(CHUNK_BYTES)): Promise<Verdict__Output> {
    const answer = new Promise<InspectResponse__Output>((resolve) => this.waiting.set(image.key, resolve));
    const sha256 = createHash('sha256').update(image.bytes).digest('hex');
    this.call.write({ header: { idempotencyKey: image.key, stationId: this.stationId, barcode: image.barcode, captureTime: new Date().toISOString(),
      contentType: 'image/jpeg', sizeBytes: image.bytes.length, sha256, fileName: image.fileName, modelName: '', priority: 'PRIORITY_REALTIME' } });
    const chunks = split(image.bytes);
    let offset = 0;
    chunks.forEach((data, i) => {
      this.call.write({ chunk: { idempotencyKey: image.key, offset, data, last: i === chunks.length - 1 } });
      offset += data.length;
    });
    const response = await answer;
    this.waiting.delete(image.key);
    if (!response.verdict) throw new Error(`${image.fileName} rejected: ${response.rejection?.code} ${response.rejection?.reason}`);
    return response.verdict;
  }

  close(): void {
    this.call.end();
    this.client.close();
  }
}
