// NATS users and subject permissions, one per role: the single source of the `authorization` block in
// deploy/docker/nats.conf and deploy/k8s/config/nats.conf (written by `node tools/gen-nats-conf.mjs`,
// checked by test/unit/deploy-manifests.test.ts) and of the users test/integration/nats-permissions.test.ts
// runs every process's NATS and JetStream calls with. A subject a role's code needs and its block lacks
// is refused by the server ("Permissions Violation"); the integration test fails on any such violation.
import { FEEDBACK_SUBJECT_PREFIX } from './feedback.js';
import { RESCAN_JOBS_BUCKET, RESCAN_RESULT_PREFIX, RESCAN_RESULTS_STREAM, RESCAN_WORK_PREFIX, RESCAN_WORK_STREAM } from './rescan/records.js';
import { VERDICT_STREAM, VERDICT_SUBJECT_PREFIX } from './verdict-event.js';

export interface NatsSubjectRules { allow?: string[]; deny?: string[] }
export interface NatsPermissions { publish?: NatsSubjectRules; subscribe?: NatsSubjectRules }
/** A user of the server config; `password` is conf syntax (a quoted literal or a `$VARIABLE`). */
export interface NatsConfUser { user: string; password: string; permissions?: NatsPermissions }

const API = '$JS.API';
const JOBS_STREAM = `KV_${RESCAN_JOBS_BUCKET}`;
const RESCAN_STREAMS = [RESCAN_WORK_STREAM, RESCAN_RESULTS_STREAM, JOBS_STREAM];
const INBOX = '_INBOX.>';

/** Any consumer operation on `stream` (create, durable create, info, next, delete, names/list). */
const consumersOf = (stream: string) => [
  `${API}.CONSUMER.*.${stream}`, `${API}.CONSUMER.*.${stream}.>`, `${API}.CONSUMER.DURABLE.CREATE.${stream}.*`, `${API}.CONSUMER.MSG.NEXT.${stream}.*`,
];

/** Reading the verdict stream: info, message get, its own consumers (push or pull) and their acks. */
const verdictReading = [
  `${API}.INFO`, `${API}.STREAM.INFO.${VERDICT_STREAM}`, `${API}.STREAM.MSG.GET.${VERDICT_STREAM}`,
  ...consumersOf(VERDICT_STREAM), `$JS.ACK.${VERDICT_STREAM}.>`, `$JS.FC.${VERDICT_STREAM}.>`,
];

export const NATS_ROLES = {
  // Creates and updates the verdict stream and the re-scan streams, publishes verdicts, answers
  // feedback, runs the re-scan monitor (job compare-and-set, consumer info, counting consumers).
  coordinator: {
    publish: { allow: [`${VERDICT_SUBJECT_PREFIX}.>`, `${API}.>`, `$KV.${RESCAN_JOBS_BUCKET}.>`, '$JS.FC.>', INBOX] },
    subscribe: { allow: [`${FEEDBACK_SUBJECT_PREFIX}.>`, INBOX] },
  },
  // Checks that the re-scan streams exist (never creates them), lists and reads jobs, pulls and acks
  // rows, reads and publishes results. No verdicts, no job writes, no stream or consumer changes.
  worker: {
    publish: {
      allow: [
        `${API}.INFO`, ...RESCAN_STREAMS.map((stream) => `${API}.STREAM.INFO.${stream}`),
        `${API}.STREAM.MSG.GET.${RESCAN_RESULTS_STREAM}`, `${API}.STREAM.MSG.GET.${JOBS_STREAM}`, `${API}.DIRECT.GET.${JOBS_STREAM}.>`,
        // kv.keys(): an ordered push consumer on the jobs bucket, with flow control.
        `${API}.CONSUMER.CREATE.${JOBS_STREAM}`, `${API}.CONSUMER.CREATE.${JOBS_STREAM}.>`, `$JS.FC.${JOBS_STREAM}.>`,
        `${API}.CONSUMER.INFO.${RESCAN_WORK_STREAM}.*`, `${API}.CONSUMER.MSG.NEXT.${RESCAN_WORK_STREAM}.*`, `$JS.ACK.${RESCAN_WORK_STREAM}.>`,
        `${RESCAN_RESULT_PREFIX}.>`,
      ],
    },
    subscribe: { allow: [INBOX] },
  },
  // `quicksilver rescan` (operators, collection systems): creates the re-scan streams, submits,
  // steers, cancels (purges the job's rows) and exports jobs. Nothing of the verdict stream.
  rescan: {
    publish: {
      allow: [
        `${API}.INFO`,
        ...RESCAN_STREAMS.flatMap((stream) => [`${API}.STREAM.INFO.${stream}`, `${API}.STREAM.CREATE.${stream}`, `${API}.STREAM.MSG.GET.${stream}`, ...consumersOf(stream)]),
        `${API}.DIRECT.GET.${JOBS_STREAM}.>`, `${API}.STREAM.PURGE.${RESCAN_WORK_STREAM}`, `$JS.FC.${JOBS_STREAM}.>`,
        `$KV.${RESCAN_JOBS_BUCKET}.>`, `${RESCAN_WORK_PREFIX}.>`, `${RESCAN_RESULT_PREFIX}.>`,
      ],
    },
    subscribe: { allow: [INBOX] },
  },
  // Collection systems: verdicts (core subscription or a consumer on the stream), nothing else.
  reader: {
    publish: { allow: verdictReading },
    subscribe: { allow: [`${VERDICT_SUBJECT_PREFIX}.>`, INBOX] },
  },
  // Curators: what readers have, and feedback (a request the coordinator answers).
  curator: {
    publish: { allow: [...verdictReading, `${FEEDBACK_SUBJECT_PREFIX}.>`] },
    subscribe: { allow: [`${VERDICT_SUBJECT_PREFIX}.>`, INBOX] },
  },
} as const satisfies Record<string, NatsPermissions>;

export type NatsRole = keyof typeof NATS_ROLES;
export const NATS_ROLE_NAMES = Object.keys(NATS_ROLES) as NatsRole[];

/** The environment variable the shipped nats.conf takes a role's password from, e.g. NATS_WORKER_PASSWORD. */
export const natsPasswordVariable = (role: NatsRole) => `NATS_${role.toUpperCase()}_PASSWORD`;

const quote = (value: string) => JSON.stringify(value);

function renderRules(kind: 'publish' | 'subscribe', rules: NatsSubjectRules | undefined, indent: string): string[] {
  if (!rules) return [];
  const lines = [`${indent}${kind}: {`];
  for (const key of ['allow', 'deny'] as const) {
    if (!rules[key]) continue;
    lines.push(`${indent}  ${key}: [`, ...rules[key].map((subject) => `${indent}    ${quote(subject)}`), `${indent}  ]`);
  }
  lines.push(`${indent}}`);
  return lines;
}

/** An `authorization { users: [...] }` block. */
export function renderNatsAuthorization(users: NatsConfUser[]): string {
  const lines = ['authorization {', '  users: ['];
  for (const { user, password, permissions } of users) {
    lines.push('    {', `      user: ${quote(user)}`, `      password: ${password}`);
    if (permissions) {
      lines.push('      permissions: {', ...renderRules('publish', permissions.publish, '        '), ...renderRules('subscribe', permissions.subscribe, '        '), '      }');
    }
    lines.push('    }');
  }
  lines.push('  ]', '}');
  return `${lines.join('\n')}\n`;
}

/** Every role's user (named after the role) with the given password expression. */
export function natsRoleUsers(password: (role: NatsRole) => string): NatsConfUser[] {
  return NATS_ROLE_NAMES.map((role) => ({ user: role, password: password(role), permissions: NATS_ROLES[role] }));
}

export const GENERATED_BEGIN = '# BEGIN generated by `node tools/gen-nats-conf.mjs` from common/src/nats-permissions.ts: do not edit by hand';
export const GENERATED_END = '# END generated';

/** The generated part of the shipped nats.conf files: every role, passwords from the environment. */
export function shippedNatsAuthorization(): string {
  return `${GENERATED_BEGIN}\n${renderNatsAuthorization(natsRoleUsers((role) => `$${natsPasswordVariable(role)}`))}${GENERATED_END}\n`;
}

/** The generated part of a nats.conf (markers included), or undefined without markers. */
export function generatedPart(conf: string): string | undefined {
  const begin = conf.indexOf(GENERATED_BEGIN);
  const end = conf.indexOf(GENERATED_END, begin);
  return begin < 0 || end < 0 ? undefined : conf.slice(begin, end + GENERATED_END.length + 1);
}
