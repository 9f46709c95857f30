// Node flags for every Quicksilver service process. Image bytes live in ArrayBuffers outside V8's
// heap but count toward its GC limits; from V8's small initial old space, a process moving ~0.5 MB
// images ran a major GC every ~9 images (coordinator: 113 in 960 images, ~1.2 CPU ms per image,
// pauses up to 28 ms). With a 128 MiB initial old space: 11, at the same RSS (docs/performance.md).
// Node refuses this flag in NODE_OPTIONS, so launchers pass it: LocalProcesses (demo, bench, tests),
// deploy/docker, deploy/systemd and the README's commands.
import type { Logger } from './logger.js';

export const SERVICE_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128'];

const SIZING_FLAGS = ['--initial-old-space-size', '--initial_old_space_size', '--initial-heap-size', '--initial_heap_size'];

/** Warns when this process runs without an initial heap size (each frequent major GC costs image throughput). */
export function warnWithoutServiceNodeFlags(logger: Logger): void {
  if (process.execArgv.some((arg) => SIZING_FLAGS.some((flag) => arg.startsWith(flag)))) return;
  logger.warn({ recommended: SERVICE_NODE_FLAGS },
    `node runs without ${SERVICE_NODE_FLAGS.join(' ')}: image traffic will cause frequent major GCs; start it as `
    + `node ${SERVICE_NODE_FLAGS.join(' ')} bin/quicksilver.js ... (docs/performance.md)`);
}
