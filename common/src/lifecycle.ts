// Long-lived components implement start()/stop(); stop() is idempotent and drains within a grace
// time. runUntilSignal wires SIGTERM/SIGINT to an ordered, two-step shutdown (grace, then force).
import type { Logger } from './logger.js';

export interface Component {
  readonly name: string;
  start(): Promise<void>;
  /** Stops intake, drains in-flight work until `signal` aborts (grace expired), then releases resources. */
  stop(signal: AbortSignal): Promise<void>;
}

/** Starts components in order; stops them in reverse order on SIGTERM/SIGINT or when `until` resolves. */
export async function runUntilSignal(
  components: Component[],
  options: { logger: Logger; graceMs: number; until?: Promise<unknown> },
): Promise<void> {
  const { logger, graceMs } = options;
  const started: Component[] = [];
  let signalled: NodeJS.Signals | undefined;
  let onStopRequested: () => void = () => {};
  const stopRequested = new Promise<void>((resolve) => (onStopRequested = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = signal;
    onStopRequested();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    for (const component of components) {
      if (signalled) break;
      await component.start();
      started.push(component);
    }
    await Promise.race([stopRequested, options.until ?? new Promise(() => {})]);
  } finally {
    logger.info({ reason: signalled ?? 'done', graceMs }, 'shutting down: intake stopped, draining in-flight work');
    const grace = AbortSignal.timeout(graceMs);
    for (const component of [...started].reverse()) {
      try {
        await component.stop(grace);
      } catch (error) {
        logger.error({ err: error, component: component.name }, 'component failed to stop cleanly');
      }
    }
    logger.info('stopped');
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
