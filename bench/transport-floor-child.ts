// The transport floor measured in a process of its own, with the service processes' node flags (the
// bench process runs without them, and its heap holds the run's other state). Argument: JSON
// { imagesDir, total }; prints the TransportFloor as JSON on its last stdout line.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { measureTransportFloor } from './transport-floor.js';

const options = JSON.parse(process.argv[2]!) as { imagesDir: string; total: number };
const images = readdirSync(options.imagesDir).sort().map((name) => readFileSync(join(options.imagesDir, name)));
process.stdout.write(`${JSON.stringify(await measureTransportFloor(images, options.total))}\n`);
