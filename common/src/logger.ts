// Structured JSON logs (pino) on stderr, one logger per process; components take a child.
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  /** pino level: trace, debug, info, warn, error, fatal, silent. */
  level: string;
  /** process name, stamped on every line (e.g. "coordinator"). */
  name: string;
  /** Where lines go (default stderr); tests capture them. */
  destination?: pino.DestinationStream;
}

/** Keys whose values are secrets (tokens, passwords, authorization metadata, NATS credentials). */
export const REDACTED_KEYS = ['token', 'password', 'pass', 'authorization', 'natsPassword', 'natsToken', 'privateKey', 'private_key'];

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      name: options.name,
      level: options.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Secrets never reach a log line: components log no secret values, and these keys are censored
      // wherever they appear (one level deep) in case a config or an options object is logged.
      redact: { paths: REDACTED_KEYS.flatMap((key) => [key, `*.${key}`]), censor: '[redacted]' },
    },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}
