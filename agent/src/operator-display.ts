// The operator's one-line-per-sheet display on stdout (logs go to stderr). Flagged sheets stand out:
//   ⚠ FLAG  QS00012345.jpg  contaminated  score 0.93  (model mercury-cnn@1.0.0, 412 ms)
//     ok    QS00012346.jpg  clean  score 0.04  (model mercury-cnn@1.0.0, 388 ms)
//   ✗ REJECTED  notes.txt  UNSUPPORTED_FORMAT  not a JPEG, TIFF or PNG image
//   ↻ RETRY  QS00012347.jpg  NO_WORKER  no worker was available in time  (resend in 1.2 s)
import type { Verdict__Output } from '../../common/src/generated/quicksilver/v1/Verdict.js';

export function formatVerdictLine(fileName: string, verdict: Verdict__Output, latencyMs: number): string {
  const mark = verdict.flagged ? '⚠ FLAG' : '  ok  ';
  const model = verdict.modelVersion ? `${verdict.modelName}@${verdict.modelVersion}` : verdict.modelName || 'unknown';
  return `${mark}  ${fileName}  ${verdict.label}  score ${verdict.score.toFixed(2)}  (model ${model}, ${Math.round(latencyMs)} ms)`;
}

export function formatRejectionLine(fileName: string, code: string, reason: string): string {
  return `✗ REJECTED  ${fileName}  ${code}  ${reason}`;
}

export function formatRetryLine(fileName: string, code: string, reason: string, delayMs: number): string {
  return `↻ RETRY  ${fileName}  ${code}  ${reason}  (resend in ${(delayMs / 1000).toFixed(1)} s)`;
}

export class OperatorDisplay {
  /** `write` receives whole lines without the newline; `enabled: false` prints nothing. */
  constructor(
    private readonly write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
    private readonly enabled = true,
  ) {}

  verdict(fileName: string, verdict: Verdict__Output, latencyMs: number): void {
    if (this.enabled) this.write(formatVerdictLine(fileName, verdict, latencyMs));
  }

  rejection(fileName: string, code: string, reason: string): void {
    if (this.enabled) this.write(formatRejectionLine(fileName, code, reason));
  }

  retry(fileName: string, code: string, reason: string, delayMs: number): void {
    if (this.enabled) this.write(formatRetryLine(fileName, code, reason, delayMs));
  }
}
