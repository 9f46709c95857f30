// Live progress of a re-scan job: a progress bar on a terminal (cli-progress), plain lines otherwise.
import { SingleBar } from 'cli-progress';
import type { JobProgress } from '../../../common/src/rescan/records.js';

export interface ProgressLine {
  done: number;
  verdicts: number;
  failures: number;
  remaining: number;
  total: number | undefined;
  /** Rows per second over the last sample interval. */
  rate: number;
  etaSeconds: number | undefined;
}

export class ProgressTracker {
  private last: { at: number; done: number } | undefined;
  private rate = 0;

  update(progress: JobProgress, now = Date.now()): ProgressLine {
    const done = progress.verdicts + progress.failures;
    if (this.last && now > this.last.at) {
      const instant = ((done - this.last.done) * 1000) / (now - this.last.at);
      this.rate = this.rate === 0 ? instant : 0.7 * this.rate + 0.3 * instant;
    }
    this.last = { at: now, done };
    const total = progress.job.totalRows;
    const remaining = total === undefined ? progress.pending : Math.max(0, total - done);
    return {
      done, verdicts: progress.verdicts, failures: progress.failures, remaining, total, rate: this.rate,
      etaSeconds: this.rate > 0 ? remaining / this.rate : undefined,
    };
  }
}

export const formatProgress = (jobId: string, state: string, line: ProgressLine): string =>
  `${jobId} ${state}: done ${line.done}${line.total === undefined ? '' : `/${line.total}`} (verdicts ${line.verdicts}, failed ${line.failures}), `
  + `remaining ${line.remaining}, ${line.rate.toFixed(1)} rows/s, ETA ${line.etaSeconds === undefined ? '?' : formatSeconds(line.etaSeconds)}`;

export function formatSeconds(seconds: number): string {
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Shows progress on stderr: a bar when it is a terminal, one line every `lineEveryMs` otherwise. */
export class ProgressDisplay {
  private bar: SingleBar | undefined;
  private lastLineAt = 0;

  constructor(private readonly jobId: string, private readonly stream: NodeJS.WriteStream = process.stderr, private readonly lineEveryMs = 5000) {
    if (stream.isTTY) {
      this.bar = new SingleBar({
        stream, hideCursor: true, etaBuffer: 50,
        format: `${jobId} [{bar}] {percentage}% | {done}/{totalText} done, {failures} failed, {remaining} left | {rate} rows/s | ETA {eta_text}`,
      });
    }
  }

  show(state: string, line: ProgressLine, final = false): void {
    const payload = {
      done: line.done, failures: line.failures, remaining: line.remaining, totalText: line.total ?? '?', rate: line.rate.toFixed(1),
      eta_text: line.etaSeconds === undefined ? '?' : formatSeconds(line.etaSeconds),
    };
    if (this.bar) {
      const total = Math.max(line.total ?? line.done + line.remaining, 1);
      if (!this.lastLineAt) this.bar.start(total, line.done, payload);
      this.bar.setTotal(total);
      this.bar.update(line.done, payload);
      this.lastLineAt = Date.now();
    } else if (Date.now() - this.lastLineAt >= this.lineEveryMs || final) {
      this.stream.write(`${formatProgress(this.jobId, state, line)}\n`);
      this.lastLineAt = Date.now();
    }
  }

  stop(): void {
    this.bar?.stop();
  }
}
