// A gRPC server component with the standard grpc.health.v1 service. Processes add their own
// services before start(); health reports NOT_SERVING until setServing(true) and again while stopping.
import { HealthImplementation } from 'grpc-health-check';
import type { Component } from '../lifecycle.js';
import type { Logger } from '../logger.js';
import { bindServer, channelOptions, grpc } from './grpc-services.js';

export class GrpcServer implements Component {
  readonly name = 'grpc-server';
  readonly server = new grpc.Server(channelOptions);
  private readonly health: HealthImplementation;
  private boundPort = 0;
  private started = false;

  constructor(private readonly options: {
    address: string; logger: Logger; serviceNames: string[];
    /** TLS or plaintext (see grpc-security.ts); plaintext when absent. */
    credentials?: grpc.ServerCredentials;
  }) {
    this.health = new HealthImplementation(Object.fromEntries(['', ...options.serviceNames].map((name) => [name, 'NOT_SERVING' as const])));
    this.health.addToServer(this.server);
  }

  get port(): number {
    return this.boundPort;
  }

  setServing(serving: boolean): void {
    for (const name of ['', ...this.options.serviceNames]) this.health.setStatus(name, serving ? 'SERVING' : 'NOT_SERVING');
  }

  async start(): Promise<void> {
    this.boundPort = await bindServer(this.server, this.options.address, this.options.credentials ?? grpc.ServerCredentials.createInsecure());
    this.started = true;
    this.options.logger.info({ address: this.options.address, port: this.boundPort, tls: this.options.credentials?._isSecure() ?? false }, 'gRPC server listening');
  }

  /** Graceful: refuses new calls, lets open ones finish until the signal aborts, then cancels them. */
  async stop(signal: AbortSignal): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.setServing(false);
    await new Promise<void>((resolve) => {
      const force = () => {
        this.server.forceShutdown();
        resolve();
      };
      if (signal.aborted) return force();
      signal.addEventListener('abort', force, { once: true });
      this.server.tryShutdown(() => {
        signal.removeEventListener('abort', force);
        resolve();
      });
    });
  }
}
