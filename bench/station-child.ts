// A bench station in a process of its own, as a separate agent would be: the bulk load of the
// latency phases runs here, so its event loop and GC are not those of the conveyor stations whose
// latency is measured. Parent side: runStationInChild() in station-load.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runStation, toBenchImage, type StationOptions } from './station-load.js';

type ChildOptions = Omit<StationOptions, 'images' | 'signal'> & { imagesDir: string };

const options = JSON.parse(process.argv[2]!) as ChildOptions;
const images = readdirSync(options.imagesDir).sort().map((name) => toBenchImage(name, readFileSync(join(options.imagesDir, name))));
const stop = new AbortController();
process.on('message', (message) => {
  if (message === 'stop') stop.abort();
});
const result = await runStation({ ...options, images, signal: stop.signal });
process.send!(result, () => process.exit(0));
