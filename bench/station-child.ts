// A bench station in a process of its own, as a separate agent would be: the saturating load and the
// bulk load of the latency phases run here, so their event loops and GC are neither the bench's nor
// those of the conveyor stations whose latency is measured. It reports 'ready' once its images are
// loaded and starts on 'go'. Parent side: startStationInChild() in station-load.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { latenciesByWorker, runStation, STAGES, toBenchImage, type StationChildResult, type StationOptions } from './station-load.js';

type ChildOptions = Omit<StationOptions, 'images' | 'signal'> & { imagesDir: string; stations?: number };

const options = JSON.parse(process.argv[2]!) as ChildOptions;
const images = readdirSync(options.imagesDir).sort().map((name) => toBenchImage(name, readFileSync(join(options.imagesDir, name))));
const stop = new AbortController();
let go: () => void = () => {};
const started = new Promise<void>((resolve) => (go = resolve));
process.on('message', (message) => {
  if (message === 'stop') stop.abort();
  if (message === 'go') go();
});
process.once('disconnect', () => process.exit(1)); // the bench is gone
process.send!('ready');
await Promise.race([started, new Promise((resolve) => stop.signal.addEventListener('abort', resolve, { once: true }))]);
// `stations` > 1: that many stations (ids <stationId>-1, -2, ...) on this one process, one merged result.
const count = options.stations ?? 1;
const cpuAtStart = process.cpuUsage();
const results = await Promise.all(Array.from({ length: count }, (_, s) =>
  runStation({ ...options, stationId: count === 1 ? options.stationId : `${options.stationId}-${s + 1}`, images, signal: stop.signal })));
const cpu = process.cpuUsage(cpuAtStart);
const result: StationChildResult = {
  latenciesMs: results.flatMap((r) => r.latenciesMs),
  stagesMs: Object.fromEntries(STAGES.map((stage) => [stage, results.flatMap((r) => r.stagesMs[stage])])) as StationChildResult['stagesMs'],
  latenciesByWorkerMs: latenciesByWorker(results),
  verdicts: results.reduce((a, r) => a + r.verdicts, 0),
  rejections: results.reduce<Record<string, number>>((merged, r) => {
    for (const [code, n] of Object.entries(r.rejections)) merged[code] = (merged[code] ?? 0) + n;
    return merged;
  }, {}),
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
};
process.send!(result, () => process.exit(0));
