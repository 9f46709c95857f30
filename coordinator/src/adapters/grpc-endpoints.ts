// Binds the Inspection (agents) and WorkerLink (workers) gRPC services to the transport-free
// InspectionService and Dispatcher.
import type { InspectRequest__Output } from '../../../common/src/generated/quicksilver/v1/InspectRequest.js';
import type { InspectResponse } from '../../../common/src/generated/quicksilver/v1/InspectResponse.js';
import type { WorkerMessage__Output } from '../../../common/src/generated/quicksilver/v1/WorkerMessage.js';
import type { CoordinatorMessage } from '../../../common/src/generated/quicksilver/v1/CoordinatorMessage.js';
import type { Register__Output } from '../../../common/src/generated/quicksilver/v1/Register.js';
import type { Counter } from 'prom-client';
import { CHUNK_BYTES, feedbackProto, grpc, inspectionProto, toGrpcError, workerProto } from '../../../common/src/adapters/grpc-services.js';
import { callCredentials } from '../../../common/src/adapters/grpc-security.js';
import { AuthError, type AccessPolicy, type Principal, type Role } from '../../../common/src/access-control.js';
import type { FeedbackReply } from '../../../common/src/generated/quicksilver/v1/FeedbackReply.js';
import type { FeedbackRequest__Output } from '../../../common/src/generated/quicksilver/v1/FeedbackRequest.js';
import type { FeedbackTracker } from '../feedback-tracker.js';
import type { GrpcServer } from '../../../common/src/adapters/grpc-server.js';
import type { Logger } from '../../../common/src/logger.js';
import type { Dispatcher, DispatchTask, WorkerChannel, WorkerInfo } from '../dispatcher.js';
import type { InspectionService } from '../inspection-service.js';
import { PRIORITY_CLASSES } from '../task-queue.js';

export const SERVICE_NAMES = ['quicksilver.v1.Inspection', 'quicksilver.v1.WorkerLink', 'quicksilver.v1.Feedback'];

const FEEDBACK_STATUS = { invalid_json: grpc.status.INVALID_ARGUMENT, invalid_schema: grpc.status.INVALID_ARGUMENT, unknown_verdict: grpc.status.NOT_FOUND, duplicate: grpc.status.ALREADY_EXISTS } as const;

/**
 * Feedback over gRPC: the same tracker as the NATS subject; a refusal is a status error naming the reason.
 * When access control is enforced the caller needs a curator credential, and `curator` (filled in when
 * empty) must be that curator.
 */
export function addFeedbackService(server: GrpcServer, tracker: FeedbackTracker, deps: { access: AccessPolicy; authFailures: Counter<'reason'>; logger: Logger }): void {
  server.server.addService(feedbackProto.Feedback.service, {
    Submit: (call: grpc.ServerUnaryCall<FeedbackRequest__Output, FeedbackReply>, callback: grpc.sendUnaryData<FeedbackReply>) => {
      const r = call.request;
      let curator = r.curator;
      try {
        const principal = deps.access.authenticate('curator', callCredentials(call));
        if (principal.via !== 'none') {
          curator ||= principal.id;
          deps.access.authorize(principal, curator);
        }
      } catch (error) {
        if (!(error instanceof AuthError)) throw error;
        deps.authFailures.inc({ reason: error.reason });
        deps.logger.warn({ peer: call.getPeer(), code: error.code, reason: error.reason, detail: error.message }, 'call refused by access control');
        callback(toGrpcError(error));
        return;
      }
      const reply = tracker.submit({ schema: 'quicksilver.feedback.v1', idempotencyKey: r.idempotencyKey, barcode: r.barcode, contaminated: r.contaminated, curator, method: r.method });
      if (reply.accepted) {
        callback(null, { outcome: reply.outcome, modelVersion: reply.modelVersion, stationId: reply.stationId, idempotencyKey: reply.idempotencyKey });
      } else {
        callback({ code: FEEDBACK_STATUS[reply.reason], details: `${reply.reason}: ${reply.detail}`, name: 'FeedbackRejected', message: reply.detail });
      }
    },
  });
}

export function addCoordinatorServices(
  server: GrpcServer,
  deps: {
    inspection: InspectionService; dispatcher: Dispatcher; heartbeatIntervalMs: number; logger: Logger;
    access: AccessPolicy; authFailures: Counter<'reason'>;
  },
): void {
  /** Ends a call refused by access control: counted by reason, logged without secrets, UNAUTHENTICATED/PERMISSION_DENIED to the caller. */
  const refuse = (call: grpc.ServerDuplexStream<unknown, unknown>, error: AuthError) => {
    deps.authFailures.inc({ reason: error.reason });
    deps.logger.warn({ peer: call.getPeer(), code: error.code, reason: error.reason, detail: error.message }, 'call refused by access control');
    call.emit('error', toGrpcError(error));
  };
  /** The caller's identity for `role`, or undefined after refusing the call. */
  const authenticate = (call: grpc.ServerDuplexStream<unknown, unknown>, role: Role): Principal | undefined => {
    try {
      return deps.access.authenticate(role, callCredentials(call));
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      refuse(call, error);
      return undefined;
    }
  };
  /** False (call refused) when the principal claims another station's or worker's id. */
  const authorized = (call: grpc.ServerDuplexStream<unknown, unknown>, principal: Principal, claimedId: string): boolean => {
    try {
      deps.access.authorize(principal, claimedId);
      return true;
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      refuse(call, error);
      return false;
    }
  };

  server.server.addService(inspectionProto.Inspection.service, {
    Inspect: (call: grpc.ServerDuplexStream<InspectRequest__Output, InspectResponse>) => {
      const principal = authenticate(call, 'station');
      if (!principal) return;
      const peer = call.getPeer();
      const session = deps.inspection.openSession(peer, { send: (message) => { if (!call.writableEnded && !call.destroyed) call.write(message); } });
      let refused = false;
      call.on('data', (request: InspectRequest__Output) => {
        if (refused) return;
        // A station may only submit images under its own id: the header's station id must be the credential's.
        if (request.header && !authorized(call, principal, request.header.stationId)) {
          refused = true;
          session.close();
          return;
        }
        session.handle(request);
      });
      const finish = () => {
        session.close();
        if (!call.writableEnded) call.end();
      };
      call.on('end', finish);
      call.on('error', () => session.close());
      call.on('cancelled', () => session.close());
      call.on('close', () => session.close());
    },
  });

  /** Main-stream channels of registered workers, by id: an express stream attaches to one of them. */
  const channels = new Map<string, StreamWorkerChannel>();
  server.server.addService(workerProto.WorkerLink.service, {
    Connect: (call: grpc.ServerDuplexStream<WorkerMessage__Output, CoordinatorMessage>) => {
      const principal = authenticate(call, 'worker');
      if (!principal) return;
      let workerId: string | undefined;
      let channel: StreamWorkerChannel | undefined;
      const log = deps.logger.child({ peer: call.getPeer() });
      const disconnect = (reason: string) => {
        if (workerId && channel && channels.get(workerId) === channel) {
          channels.delete(workerId);
          channel.close(); // both streams go: the worker reconnects as a whole
          deps.dispatcher.workerDisconnected(workerId, reason);
        }
        workerId = undefined;
        channel = undefined;
      };
      call.on('data', (message: WorkerMessage__Output) => {
        const claimedId = message.attachExpress?.workerId ?? message.register?.workerId;
        if (!workerId && claimedId !== undefined && !authorized(call, principal, claimedId)) return;
        if (message.attachExpress && !workerId) {
          const main = channels.get(message.attachExpress.workerId);
          if (!main) {
            log.warn({ workerId: message.attachExpress.workerId }, 'express stream refused: no registered worker with that id');
            call.emit('error', Object.assign(new Error(`no registered worker ${message.attachExpress.workerId} to attach an express stream to`), { code: grpc.status.FAILED_PRECONDITION }));
            return;
          }
          workerId = message.attachExpress.workerId;
          channel = main;
          main.attachExpress(call);
        } else if (message.register) {
          const problem = registrationProblem(message.register);
          if (problem || workerId) {
            log.warn({ problem: problem ?? 'duplicate Register' }, 'worker registration refused');
            call.emit('error', Object.assign(new Error(problem ?? 'duplicate Register'), { code: grpc.status.INVALID_ARGUMENT }));
            return;
          }
          const info = toWorkerInfo(message.register);
          workerId = info.id;
          channel = new StreamWorkerChannel(call);
          channels.get(workerId)?.close(); // a re-registration replaces the old streams
          channels.set(workerId, channel);
          call.write({ registered: { heartbeatIntervalMs: deps.heartbeatIntervalMs } });
          deps.dispatcher.registerWorker(info, channel);
        } else if (!workerId) {
          log.warn('worker sent a message before Register; closing');
          call.end();
        } else if (message.heartbeat) {
          deps.dispatcher.heartbeat(workerId, message.heartbeat.draining, message.heartbeat.models);
        } else if (message.result) {
          const r = message.result;
          deps.dispatcher.completeTask(workerId, {
            taskId: r.taskId,
            classification: r.classification ?? undefined,
            error: r.error ?? undefined,
            decodeMs: r.decodeMs,
            inferenceMs: r.inferenceMs,
            workerQueueMs: r.queueMs,
            readMs: r.readMs,
            batchSize: r.batchSize,
          });
        }
      });
      call.on('end', () => {
        disconnect('worker closed its stream');
        if (!call.writableEnded) call.end();
      });
      call.on('error', (error) => disconnect(`stream error: ${error.message}`));
      call.on('cancelled', () => disconnect('stream cancelled'));
      call.on('close', () => disconnect('stream closed'));
    },
  });
}

function registrationProblem(register: Register__Output): string | undefined {
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(register.workerId)) return 'workerId must be 1-128 characters of [A-Za-z0-9._:-]';
  if (register.maxInFlight < 1) return 'maxInFlight must be at least 1';
  if (register.maxBatchSize < 1) return 'maxBatchSize must be at least 1';
  if (register.models.length === 0) return 'a worker must serve at least one model';
  return undefined;
}

function toWorkerInfo(register: Register__Output): WorkerInfo {
  return {
    id: register.workerId,
    executionProvider: register.executionProvider,
    device: register.device,
    models: register.models.map((m) => ({ name: m.name, version: m.version })),
    maxBatchSize: register.maxBatchSize,
    maxInFlight: register.maxInFlight,
    readsImageReferences: register.readsImageReferences,
    priorities: register.priorities.length === 0 ? PRIORITY_CLASSES
      : [...new Set(register.priorities.map((p) => (p === 'PRIORITY_BULK' ? 'bulk' as const : 'realtime' as const)))],
  };
}

type WorkerCall = grpc.ServerDuplexStream<WorkerMessage__Output, CoordinatorMessage>;

const isOpen = (call: WorkerCall | undefined): call is WorkerCall => call !== undefined && !call.writableEnded && !call.destroyed;

/**
 * Writes a task as TaskHeader + TaskChunk messages (views into the image buffer, no copies; a header
 * alone for an image sent by reference): realtime
 * tasks on the worker's express stream when it has one, everything else on its main stream.
 */
class StreamWorkerChannel implements WorkerChannel {
  private express: WorkerCall | undefined;

  constructor(private readonly call: WorkerCall) {}

  attachExpress(call: WorkerCall): void {
    if (isOpen(this.express)) this.express.end();
    this.express = call;
  }

  sendTask(task: DispatchTask): void {
    const call = task.priority === 'realtime' && isOpen(this.express) ? this.express : this.call;
    if (!isOpen(call)) return;
    call.write({
      task: {
        taskId: task.taskId, idempotencyKey: task.idempotencyKey, modelName: task.modelName, contentType: task.contentType,
        sizeBytes: task.sizeBytes, sha256: task.sha256, fileName: task.fileName, imageUri: task.imageUri,
        priority: task.priority === 'bulk' ? 'PRIORITY_BULK' : 'PRIORITY_REALTIME',
      },
    });
    const bytes = task.bytes;
    if (!bytes) return; // by reference: the worker reads the image
    // The chunks as they arrived from the station (or the whole image), each cut to at most CHUNK_BYTES: views, no copies.
    const pieces: Buffer[] = [];
    for (const part of Array.isArray(bytes) ? (bytes as readonly Buffer[]) : [bytes as Buffer]) {
      for (let offset = 0; offset < part.length; offset += CHUNK_BYTES) pieces.push(part.subarray(offset, Math.min(offset + CHUNK_BYTES, part.length)));
    }
    pieces.forEach((data, i) => call.write({ chunk: { taskId: task.taskId, data, last: i === pieces.length - 1 } }));
  }

  cancelTask(taskId: string): void {
    for (const call of [this.call, this.express]) if (isOpen(call)) call.write({ cancel: { taskId } });
  }

  close(): void {
    for (const call of [this.call, this.express]) if (isOpen(call)) call.end();
  }
}
