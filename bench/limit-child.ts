// The limit measured in a process of its own, so it can run on a subset of the cores (the bench's
// isolated-worker phase starts it under `taskset`). Argument: JSON { imagesDir, ...LimitOptions };
// prints the LimitResult as JSON on its last stdout line.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { measureLimit, type LimitOptions } from './limit.js';

const options = JSON.parse(process.argv[2]!) as LimitOptions & { imagesDir: string };
const images = readdirSync(options.imagesDir).sort().map((name) => ({ bytes: readFileSync(join(options.imagesDir, name)) }));
process.stdout.write(`${JSON.stringify(await measureLimit(images, options))}\n`);
