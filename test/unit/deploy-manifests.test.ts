// deploy/: the container images, docker compose, the Kubernetes kustomize base, the Prometheus configs and
// the agent's systemd unit are checked against the code they deploy: every QS_* variable is a field of the
// process's config schema and its value passes the real loadConfig; ports, probe paths, grace periods,
// Secret/ConfigMap references, worker identities and tokens, NATS users and volumes line up.
// The Kubernetes base is read as kustomize would build it (resources, generators, namespace); when
// `kubectl` is on PATH the same checks also run on `kubectl kustomize` output and on an overlay that
// replaces the placeholder Secrets the way docs/deploy.md says.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, posix, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { AGENT_ENV_PREFIX, agentConfigSchema } from '../../agent/src/config.js';
import { RESCAN_ENV_PREFIX, RescanClientConfigSchema } from '../../cli/src/rescan/config.js';
import { TokenFileSchema } from '../../common/src/access-control.js';
import { describeSchema, loadConfig, type FlatSchema } from '../../common/src/config.js';
import { createLogger } from '../../common/src/logger.js';
import { createRegistry, MetricsServer } from '../../common/src/metrics.js';
import { repoRoot } from '../../common/src/paths.js';
import { generatedPart, NATS_ROLE_NAMES, natsPasswordVariable, shippedNatsAuthorization, type NatsRole } from '../../common/src/nats-permissions.js';
import { isLoopbackAddress } from '../../common/src/security-config.js';
import { COORDINATOR_ENV_PREFIX, CoordinatorConfigSchema } from '../../coordinator/src/config.js';
import { WORKER_ENV_PREFIX, WorkerConfigSchema } from '../../gpu-worker/src/config.js';
import { SERVICE_NODE_FLAGS } from '../../common/src/node-flags.js';

const root = repoRoot();
const deploy = join(root, 'deploy');
const k8sDir = join(deploy, 'k8s');
const read = (...parts: string[]) => readFileSync(join(...parts), 'utf8');
const version = (JSON.parse(read(root, 'package.json')) as { version: string }).version;

/** Shutdown must end this long before the SIGKILL: stop steps after the grace, endpoint removal. */
const GRACE_MARGIN_MS = 5000;
/** Non-QS variables a Quicksilver container may carry, and why. */
const OTHER_ENV = new Map([
  ['POD_NAME', 'downward API, the worker id and its token file name'],
  ['UV_THREADPOOL_SIZE', 'libuv pool for decodes and model runs (docs/gpu.md)'],
  ['NVIDIA_DRIVER_CAPABILITIES', 'NVIDIA container toolkit: graphics for Vulkan'],
  ['XDG_CACHE_HOME', 'driver caches on the writable /tmp'],
]);

// ---------------------------------------------------------------- processes and their config schemas

type ProcessName = 'coordinator' | 'worker' | 'agent';
const processes: Record<ProcessName, { schema: FlatSchema; prefix: string }> = {
  coordinator: { schema: CoordinatorConfigSchema, prefix: COORDINATOR_ENV_PREFIX },
  worker: { schema: WorkerConfigSchema, prefix: WORKER_ENV_PREFIX },
  agent: { schema: agentConfigSchema as unknown as FlatSchema, prefix: AGENT_ENV_PREFIX },
};
const envNames = (name: ProcessName) => new Set(describeSchema(processes[name].schema, processes[name].prefix).map((field) => field.env));
const allConfigEnv = new Set([
  ...(Object.keys(processes) as ProcessName[]).flatMap((name) => [...envNames(name)]),
  ...describeSchema(RescanClientConfigSchema, RESCAN_ENV_PREFIX).map((field) => field.env),
]);

type Config = Record<string, unknown> & { shutdownGraceMs: number; metricsHost: string; metricsPort: number; logLevel: string };
const str = (config: Config, key: string) => config[key] as string;

/** Env names are fields of this process's schema (or listed in OTHER_ENV); the values pass loadConfig. */
function configOf(process: ProcessName, env: Record<string, string>, where: string): Config {
  const known = envNames(process);
  for (const name of Object.keys(env)) {
    if (name.startsWith('QS_')) {
      assert.ok(known.has(name), `${where}: ${name} is not a setting of the ${process} (docs/configuration.md)${allConfigEnv.has(name) ? ' but another process\'s' : ''}`);
    } else {
      assert.ok(OTHER_ENV.has(name), `${where}: environment variable ${name} is neither a setting of the ${process} nor one of ${[...OTHER_ENV.keys()].join(', ')}`);
    }
  }
  try {
    return loadConfig(processes[process].schema, processes[process].prefix, { env }) as unknown as Config;
  } catch (error) {
    throw new assert.AssertionError({ message: `${where}: the ${process} refuses this configuration: ${(error as Error).message}` });
  }
}

const portOf = (hostPort: string) => Number(/:(\d+)$/.exec(hostPort)?.[1]);
const hostOf = (hostPort: string) => hostPort.replace(/^[a-z]+:\/\//, '').replace(/:\d+$/, '');

/** The coordinator's own guard (coordinator.ts accessPolicyFor): beyond loopback it needs TLS and client authentication, or allowInsecure. */
function assertCoordinatorWouldStart(config: Config, where: string): void {
  const tls = Boolean(str(config, 'tlsCertFile'));
  const auth = Boolean(str(config, 'authTokensFile') || str(config, 'tlsClientCaFile'));
  assert.ok(isLoopbackAddress(str(config, 'grpcAddress')) || (tls && auth) || config.allowInsecure === true,
    `${where}: the coordinator refuses plaintext or unauthenticated gRPC on ${str(config, 'grpcAddress')} (docs/security.md)`);
  assert.equal(config.allowInsecure, false, `${where}: deployments here use TLS and tokens, not allowInsecure`);
  assert.ok(tls && auth, `${where}: TLS (tlsCertFile, tlsKeyFile) and authTokensFile expected`);
}

function assertGrace(graceSeconds: number, config: Config, where: string): void {
  assert.ok(graceSeconds * 1000 >= config.shutdownGraceMs + GRACE_MARGIN_MS,
    `${where}: ${graceSeconds} s before SIGKILL is not ${GRACE_MARGIN_MS} ms more than shutdownGraceMs ${config.shutdownGraceMs}: the drain would be killed`);
}

function assertProbe(path: string, port: number, config: Config, where: string): void {
  assert.equal(port, config.metricsPort, `${where}: probe port ${port} is not the metrics port ${config.metricsPort}`);
  assert.ok(!isLoopbackAddress(`${config.metricsHost}:0`), `${where}: metricsHost ${config.metricsHost} is loopback: probes and Prometheus cannot reach it`);
  assert.match(path, /^\/[a-z]+$/, `${where}: probe path ${path}`);
}

// ---------------------------------------------------------------- small parsers

function parseQuantity(value: string | number | undefined): number {
  if (value === undefined) return Number.NaN;
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T|m)?$/.exec(String(value));
  assert.ok(match, `quantity ${value}`);
  const factor: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12, m: 1e-3 };
  return Number(match[1]) * (match[2] ? factor[match[2]] : 1);
}

/** Compose and systemd durations: "30s", "1m30s", "1min 30s", "500ms", or plain seconds. */
function parseSeconds(value: string | number): number {
  if (typeof value === 'number' || /^\d+$/.test(value)) return Number(value);
  let seconds = 0;
  const units: Record<string, number> = { ms: 0.001, s: 1, sec: 1, m: 60, min: 60, h: 3600 };
  const parts = value.replace(/\s+/g, '').matchAll(/(\d+(?:\.\d+)?)(ms|min|sec|s|m|h)/g);
  for (const [, n, unit] of parts) seconds += Number(n) * units[unit];
  assert.ok(seconds > 0, `duration ${value}`);
  return seconds;
}

/** KEY=VALUE lines (comments and blank lines skipped): kustomize `envs` files and systemd EnvironmentFile. */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const eq = trimmed.indexOf('=');
    assert.ok(eq > 0, `not KEY=VALUE: ${line}`);
    env[trimmed.slice(0, eq)] = trimmed.slice(eq + 1);
  }
  return env;
}

interface NatsConf { port: number; httpPort: number; storeDir: string; users: Map<string, string> }
/** Ports, store and users (user -> the $VARIABLE its password comes from); its users and permissions are the generated ones. */
function parseNatsConf(text: string, file: string): NatsConf {
  const get = (re: RegExp, what: string) => {
    const match = re.exec(text);
    assert.ok(match, `nats.conf: no ${what}`);
    return match[1];
  };
  assert.equal(generatedPart(text), shippedNatsAuthorization(), `${file}: its users and permissions differ from common/src/nats-permissions.ts: npm run build && node tools/gen-nats-conf.mjs`);
  assert.equal(text.match(/^\s*authorization\s*\{/gm)?.length, 1, `${file}: one authorization block (the generated one)`);
  const users = new Map([...text.matchAll(/^\s*user:\s*"?([^\s"]+)"?\s*\n\s*password:\s*\$(\w+)/gm)].map((m) => [m[1], m[2]]));
  assert.deepEqual([...users.keys()], NATS_ROLE_NAMES, `${file}: one user per role`);
  for (const role of NATS_ROLE_NAMES) assert.equal(users.get(role), natsPasswordVariable(role), `${file}: ${role}'s password variable`);
  return {
    port: Number(get(/^\s*port:\s*(\d+)/m, 'port')),
    httpPort: Number(get(/^\s*http_port:\s*(\d+)/m, 'http_port')),
    storeDir: get(/^\s*store_dir:\s*"?([^\s"]+)"?/m, 'jetstream store_dir'),
    users,
  };
}
/** The NATS user each deployed process connects as. */
const natsUserOf: Partial<Record<ProcessName, NatsRole>> = { coordinator: 'coordinator', worker: 'worker' };

const under = (path: string, dir: string) => path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);

// ---------------------------------------------------------------- Kubernetes objects

interface KeyRef { name: string; key: string }
interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef?: KeyRef; configMapKeyRef?: KeyRef; fieldRef?: { fieldPath: string } } }
interface HttpProbe { httpGet?: { path: string; port: string | number } }
interface Container {
  name: string; image: string; args?: string[]; command?: string[];
  env?: EnvVar[]; envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: HttpProbe; livenessProbe?: HttpProbe; startupProbe?: HttpProbe;
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string; subPathExpr?: string }[];
}
interface Volume {
  name: string;
  secret?: { secretName: string; items?: { key: string; path: string }[] };
  configMap?: { name: string; items?: { key: string; path: string }[] };
  persistentVolumeClaim?: { claimName: string };
  emptyDir?: object;
}
interface PodSpec {
  containers: Container[]; volumes?: Volume[]; terminationGracePeriodSeconds?: number;
  enableServiceLinks?: boolean; automountServiceAccountToken?: boolean;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number };
}
interface K8sObject {
  apiVersion: string; kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    replicas?: number; strategy?: { type?: string }; serviceName?: string; clusterIP?: string;
    selector?: Selector;
    template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
    volumeClaimTemplates?: { metadata: { name: string }; spec: { accessModes: string[] } }[];
    accessModes?: string[];
    ports?: { name?: string; port: number; targetPort?: string | number }[];
    maxUnavailable?: number | string; minAvailable?: number | string;
    jobLabel?: string; podMetricsEndpoints?: { port: string; path?: string }[];
  };
}
interface Selector { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values: string[] }[]; [label: string]: unknown }
interface Kustomization {
  namespace?: string; resources?: string[];
  images?: { name: string; newName?: string; newTag?: string }[];
  configMapGenerator?: Generator[]; secretGenerator?: Generator[];
}
interface Generator { name: string; behavior?: string; envs?: string[]; files?: string[]; literals?: string[] }

const yamlObjects = (text: string) => parseAllDocuments(text).map((doc) => doc.toJS() as K8sObject).filter(Boolean);

/** Builds the base as kustomize does, minus the name hashes: resources, generated ConfigMaps/Secrets (values in clear), namespace. */
function buildKustomization(dir: string): { objects: K8sObject[]; kustomization: Kustomization } {
  const kustomization = parse(read(dir, 'kustomization.yaml')) as Kustomization;
  const objects: K8sObject[] = [];
  for (const resource of kustomization.resources ?? []) {
    assert.ok(existsSync(join(dir, resource)) && statSync(join(dir, resource)).isFile(), `kustomization resource ${resource} is not a file in ${dir}`);
    objects.push(...yamlObjects(read(dir, resource)));
  }
  const generate = (kind: 'ConfigMap' | 'Secret', generator: Generator): K8sObject => {
    const data: Record<string, string> = {};
    for (const file of generator.envs ?? []) Object.assign(data, parseEnvFile(read(dir, file)));
    for (const spec of generator.files ?? []) {
      const [key, file] = spec.includes('=') ? spec.split('=', 2) : [basename(spec), spec];
      assert.ok(existsSync(join(dir, file)), `${kind} ${generator.name}: ${file} does not exist`);
      data[key] = read(dir, file);
    }
    for (const literal of generator.literals ?? []) Object.assign(data, parseEnvFile(literal));
    return { apiVersion: 'v1', kind, metadata: { name: generator.name }, data };
  };
  for (const generator of kustomization.configMapGenerator ?? []) objects.push(generate('ConfigMap', generator));
  for (const generator of kustomization.secretGenerator ?? []) objects.push(generate('Secret', generator));
  for (const object of objects) if (object.kind !== 'Namespace' && kustomization.namespace) object.metadata.namespace = kustomization.namespace;
  return { objects, kustomization };
}

/** A cluster's objects, with lookups; `encoded` = Secret data is base64 (kubectl output). */
class Cluster {
  constructor(readonly objects: K8sObject[], readonly label: string, private readonly encoded: boolean, private readonly images = k8sImages) {}

  /** "quicksilver" or "quicksilver-gpu" for a container image before or after kustomize's images transform (base and overlay). */
  imageOf(image: string): string | undefined {
    const repository = image.replace(/:[\w.-]+$/, '');
    return [...this.images, ...k8sImages].find((i) => repository === i.name || repository === i.newName)?.name;
  }

  find(kind: string, name: string): K8sObject | undefined {
    return this.objects.find((o) => o.kind === kind && o.metadata.name === name);
  }

  get(kind: string, name: string, where: string): K8sObject {
    const object = this.find(kind, name);
    assert.ok(object, `${this.label}: ${where} refers to ${kind} ${name}, which is not defined`);
    return object;
  }

  value(kind: 'ConfigMap' | 'Secret', name: string, key: string, where: string): string {
    const object = this.get(kind, name, where);
    const raw = object.data?.[key] ?? object.stringData?.[key];
    assert.ok(raw !== undefined, `${this.label}: ${where} refers to key ${key} of ${kind} ${name}, which has only ${Object.keys(object.data ?? {}).join(', ')}`);
    return kind === 'Secret' && this.encoded && object.data?.[key] !== undefined ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  }

  all(kind: string): K8sObject[] {
    return this.objects.filter((o) => o.kind === kind);
  }

  get workloads(): K8sObject[] {
    return this.objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
  }
}

const selects = (selector: Record<string, unknown> | undefined, labels: Record<string, string> | undefined) =>
  selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** Pod names a workload's pods get: StatefulSet ordinals; a Deployment's are random (one stand-in). */
const podNames = (workload: K8sObject) => workload.kind === 'StatefulSet'
  ? Array.from({ length: workload.spec?.replicas ?? 1 }, (_, i) => `${workload.metadata.name}-${i}`)
  : [`${workload.metadata.name}-5d9c7b8f4-x2x7q`];

interface QsContainer { workload: K8sObject; pod: PodSpec; container: Container; process: ProcessName; podName: string; env: Record<string, string>; config: Config }

/** The container's environment as the kubelet builds it: envFrom first, then env in order, $(VAR) expanded. */
function containerEnv(cluster: Cluster, container: Container, podName: string, where: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, cluster.get('ConfigMap', from.configMapRef.name, where).data);
    if (from.secretRef) assert.fail(`${where}: envFrom a Secret puts every key in the environment; name them with secretKeyRef`);
  }
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    let value: string;
    if (from?.secretKeyRef) value = cluster.value('Secret', from.secretKeyRef.name, from.secretKeyRef.key, `${where} ${variable.name}`);
    else if (from?.configMapKeyRef) value = cluster.value('ConfigMap', from.configMapKeyRef.name, from.configMapKeyRef.key, `${where} ${variable.name}`);
    else if (from?.fieldRef) {
      assert.equal(from.fieldRef.fieldPath, 'metadata.name', `${where} ${variable.name}: only metadata.name is modelled here`);
      value = podName;
    } else value = (variable.value ?? '').replace(/\$\((\w+)\)/g, (whole, name: string) => env[name] ?? whole);
    assert.ok(!/\$\(\w+\)/.test(value), `${where} ${variable.name}: ${value} refers to a variable not defined before it`);
    env[variable.name] = value;
  }
  return env;
}

function containerPort(container: Container, port: string | number, where: string): number {
  if (typeof port === 'number') return port;
  const found = container.ports?.find((p) => p.name === port);
  assert.ok(found, `${where}: no container port named ${port}`);
  return found.containerPort;
}

type VolumeMount = NonNullable<Container['volumeMounts']>[number];

/** The mount's subPath, subPathExpr expanded with the container's env ('' = the whole volume). */
function subPathOf(mount: VolumeMount, env: Record<string, string>, where: string): string {
  const sub = mount.subPathExpr !== undefined ? mount.subPathExpr.replace(/\$\((\w+)\)/g, (whole, name: string) => env[name] ?? whole) : mount.subPath ?? '';
  assert.ok(!/\$\(\w+\)/.test(sub), `${where}: subPathExpr ${mount.subPathExpr} refers to a variable the container does not define`);
  return sub;
}

/** The volume a path in the container lies on, and the path inside it (subPath mounts included). */
function mountOf(pod: PodSpec, container: Container, path: string, where: string, env: Record<string, string> = {}): { volume: Volume; inside: string } {
  const mount = (container.volumeMounts ?? []).filter((m) => under(path, m.mountPath)).sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  assert.ok(mount, `${where}: ${path} is on no volume (the container's own file system)`);
  const volume = pod.volumes?.find((v) => v.name === mount.name);
  assert.ok(volume, `${where}: volume ${mount.name} is mounted but not defined`);
  return { volume, inside: posix.join(subPathOf(mount, env, where), posix.relative(mount.mountPath, path)) || '.' };
}

/** Every key of Secret `secretName` the container can read, over all its mounts. */
function visibleSecretKeys(cluster: Cluster, pod: PodSpec, container: Container, secretName: string, env: Record<string, string>, where: string): string[] {
  const keys: string[] = [];
  for (const mount of container.volumeMounts ?? []) {
    const secret = pod.volumes?.find((v) => v.name === mount.name)?.secret;
    if (secret?.secretName !== secretName) continue;
    const all = secret.items ? secret.items.map((item) => item.key) : Object.keys(cluster.get('Secret', secretName, where).data ?? {});
    const sub = subPathOf(mount, env, where).split('/')[0];
    keys.push(...(sub ? [secret.items ? secret.items.find((item) => item.path === sub)?.key ?? '' : sub].filter((key) => all.includes(key)) : all));
  }
  return keys;
}

function checkQuicksilverContainer(cluster: Cluster, workload: K8sObject, container: Container, podName: string): QsContainer {
  const pod = workload.spec!.template!.spec;
  const where = `${cluster.label} ${workload.kind}/${workload.metadata.name} container ${container.name} (pod ${podName})`;
  const process = container.args?.[0] as ProcessName;
  assert.ok(process === 'coordinator' || process === 'worker', `${where}: args[0] must choose the process (coordinator or worker), got ${container.args?.[0]}`);
  assert.equal(container.command, undefined, `${where}: keep the image's entrypoint (tini -> node bin/quicksilver.js)`);
  const env = containerEnv(cluster, container, podName, where);
  const config = configOf(process, env, where);

  // Files (TLS, tokens) on a mounted Secret or ConfigMap holding that key.
  for (const [key, value] of Object.entries(config)) {
    if (!/File$/.test(key) || !value) continue;
    const { volume, inside } = mountOf(pod, container, value as string, `${where} ${key}`, env);
    const source = volume.secret ? { kind: 'Secret' as const, name: volume.secret.secretName, items: volume.secret.items }
      : volume.configMap ? { kind: 'ConfigMap' as const, name: volume.configMap.name, items: volume.configMap.items } : undefined;
    assert.ok(source, `${where} ${key}: ${value} is not on a Secret or ConfigMap volume`);
    const dataKey = source.items ? source.items.find((item) => item.path === inside)?.key : inside;
    assert.ok(dataKey, `${where} ${key}: ${inside} is not among the projected items of ${source.name}`);
    cluster.value(source.kind, source.name, dataKey, `${where} ${key}`);
  }

  // Ports and probes.
  const metricsPort = containerPort(container, 'metrics', where);
  assert.equal(metricsPort, config.metricsPort, `${where}: container port "metrics" ${metricsPort} != metricsPort ${config.metricsPort}`);
  const readiness = container.readinessProbe?.httpGet;
  const liveness = container.livenessProbe?.httpGet;
  assert.ok(readiness && liveness, `${where}: readiness and liveness probes (HTTP, on the metrics server) expected`);
  assert.equal(readiness.path, '/readyz', `${where}: readiness must be /readyz (ready = serving / registered with warm models)`);
  assert.equal(liveness.path, '/healthz', `${where}: liveness must be /healthz (a not-ready worker must not be restarted)`);
  for (const probe of [readiness, liveness]) assertProbe(probe.path, containerPort(container, probe.port, where), config, where);
  if (process === 'coordinator') {
    assert.equal(containerPort(container, 'grpc', where), portOf(str(config, 'grpcAddress')), `${where}: container port "grpc" != grpcAddress`);
  } else {
    assert.equal(containerPort(container, 'health', where), portOf(str(config, 'healthAddress')), `${where}: container port "health" != healthAddress`);
  }

  // Graceful drain, pod hygiene.
  assert.ok(pod.terminationGracePeriodSeconds !== undefined, `${where}: set terminationGracePeriodSeconds (default 30 s)`);
  assertGrace(pod.terminationGracePeriodSeconds, config, where);
  assert.equal(pod.enableServiceLinks, false, `${where}: enableServiceLinks false (Service variables must not mix with QS_* settings)`);
  assert.equal(pod.automountServiceAccountToken, false, `${where}: no Kubernetes API access needed`);
  assert.equal(pod.securityContext?.runAsNonRoot, true, `${where}: runAsNonRoot`);
  assert.equal(pod.securityContext?.runAsUser, imageUid, `${where}: runAsUser must be the image's user (uid ${imageUid})`);
  assert.equal(pod.securityContext?.fsGroup, imageUid, `${where}: fsGroup ${imageUid} makes Secret files (0440) and volumes readable`);

  // Prometheus annotations: the metrics port; the pod label that becomes the job name.
  const annotations = workload.spec!.template!.metadata?.annotations ?? {};
  assert.equal(annotations['prometheus.io/scrape'], 'true', `${where}: prometheus.io/scrape`);
  assert.equal(Number(annotations['prometheus.io/port']), config.metricsPort, `${where}: prometheus.io/port != metricsPort`);
  assert.equal(annotations['prometheus.io/path'], '/metrics', `${where}: prometheus.io/path`);
  const job = workload.spec!.template!.metadata?.labels?.['app.kubernetes.io/name'];
  assert.ok(job && prometheusJobs.has(job), `${where}: pod label app.kubernetes.io/name ${job} is not a job of deploy/prometheus/prometheus.yml (${[...prometheusJobs].join(', ')}): alert rules select on it`);

  // Resources.
  assert.ok(container.resources?.requests?.cpu && container.resources.requests.memory && container.resources.limits?.memory, `${where}: cpu/memory requests and a memory limit expected`);
  return { workload, pod, container, process, podName, env, config };
}

/** Everything a cluster (raw base, kubectl output, overlay) must satisfy. */
function checkCluster(cluster: Cluster, options: { placeholders: boolean }): void {
  const label = cluster.label;
  const qs: QsContainer[] = [];
  for (const workload of cluster.workloads) {
    const pod = workload.spec?.template?.spec;
    assert.ok(pod, `${label}: ${workload.metadata.name} has no pod template`);
    assert.ok(selects(workload.spec?.selector?.matchLabels, workload.spec?.template?.metadata?.labels), `${label}: ${workload.metadata.name}'s selector does not match its pods`);
    // Every referenced ConfigMap, Secret and PVC exists.
    for (const volume of pod.volumes ?? []) {
      if (volume.secret) cluster.get('Secret', volume.secret.secretName, `${workload.metadata.name} volume ${volume.name}`);
      if (volume.configMap) cluster.get('ConfigMap', volume.configMap.name, `${workload.metadata.name} volume ${volume.name}`);
      if (volume.persistentVolumeClaim) cluster.get('PersistentVolumeClaim', volume.persistentVolumeClaim.claimName, `${workload.metadata.name} volume ${volume.name}`);
    }
    for (const container of pod.containers) {
      for (const mount of container.volumeMounts ?? []) {
        const defined = pod.volumes?.some((v) => v.name === mount.name) || workload.spec?.volumeClaimTemplates?.some((t) => t.metadata.name === mount.name);
        assert.ok(defined, `${label}: ${workload.metadata.name}/${container.name} mounts ${mount.name}, which is not defined`);
      }
      if (cluster.imageOf(container.image)) {
        const tag = /:([\w.-]+)$/.exec(container.image)?.[1];
        assert.ok(tag === undefined || tag === version, `${label}: ${container.image}: the tag must be package.json's version ${version}`);
        for (const podName of podNames(workload)) qs.push(checkQuicksilverContainer(cluster, workload, container, podName));
      } else {
        containerEnv(cluster, container, podNames(workload)[0], `${label} ${workload.metadata.name}/${container.name}`);
      }
    }
  }

  // Services select pods and name ports those pods have.
  for (const service of cluster.all('Service')) {
    const pods = cluster.workloads.filter((w) => selects(service.spec?.selector, w.spec?.template?.metadata?.labels));
    assert.ok(pods.length > 0, `${label}: Service ${service.metadata.name} selects no pods`);
    for (const port of service.spec?.ports ?? []) {
      const target = port.targetPort ?? port.port;
      const found = pods.some((w) => w.spec!.template!.spec.containers.some((c) => typeof target === 'number' ? c.ports?.some((p) => p.containerPort === target) : c.ports?.some((p) => p.name === target)));
      assert.ok(found, `${label}: Service ${service.metadata.name} port ${port.port} targets ${target}, which its pods do not expose`);
    }
  }
  for (const statefulSet of cluster.all('StatefulSet')) {
    const governing = cluster.get('Service', statefulSet.spec!.serviceName!, `StatefulSet ${statefulSet.metadata.name} serviceName`);
    assert.equal(governing.spec?.clusterIP, 'None', `${label}: ${statefulSet.metadata.name}'s governing Service must be headless`);
  }

  // Coordinator: one replica, Recreate, outbox on a ReadWriteOnce PVC, memory above its buffer, TLS and tokens.
  const coordinators = qs.filter((c) => c.process === 'coordinator');
  assert.equal(coordinators.length, 1, `${label}: exactly one coordinator container expected`);
  const coordinator = coordinators[0];
  const cw = `${label} coordinator`;
  assert.equal(coordinator.workload.kind, 'Deployment', `${cw}: a Deployment`);
  assert.equal(coordinator.workload.spec?.replicas, 1, `${cw}: one replica (several coordinators behind one Service are not supported, docs/deploy.md)`);
  assert.equal(coordinator.workload.spec?.strategy?.type, 'Recreate', `${cw}: strategy Recreate (a rolling update would run two coordinators on one outbox)`);
  const outbox = mountOf(coordinator.pod, coordinator.container, str(coordinator.config, 'outboxDir'), `${cw} outboxDir`);
  assert.ok(outbox.volume.persistentVolumeClaim, `${cw}: outboxDir ${str(coordinator.config, 'outboxDir')} must be on a PersistentVolumeClaim (the outbox is durable)`);
  const pvc = cluster.get('PersistentVolumeClaim', outbox.volume.persistentVolumeClaim.claimName, cw);
  assert.deepEqual(pvc.spec?.accessModes, ['ReadWriteOnce'], `${cw}: the outbox belongs to one coordinator: ReadWriteOnce`);
  const maxBuffered = coordinator.config.maxBufferedBytes as number;
  assert.ok(parseQuantity(coordinator.container.resources?.limits?.memory) >= maxBuffered + 512 * 2 ** 20,
    `${cw}: memory limit ${coordinator.container.resources?.limits?.memory} must exceed maxBufferedBytes ${maxBuffered} + 512 MiB`);
  assertCoordinatorWouldStart(coordinator.config, cw);
  assert.ok(cluster.imageOf(coordinator.container.image) === 'quicksilver', `${cw}: runs the base image, not ${coordinator.container.image}`);

  // Tokens: one per worker pod, the same value on both sides; placeholders refused by the coordinator.
  const tokensFile = mountOf(coordinator.pod, coordinator.container, str(coordinator.config, 'authTokensFile'), cw);
  const tokensJson = cluster.value('Secret', tokensFile.volume.secret!.secretName, tokensFile.inside, `${cw} authTokensFile`);
  const tokens = JSON.parse(tokensJson) as { stations?: Record<string, string>; workers?: Record<string, string> };
  const parsedTokens = TokenFileSchema.safeParse(tokens);
  if (options.placeholders) {
    assert.ok(!parsedTokens.success, `${label}: the placeholder token file would be accepted by the coordinator: placeholders must fail (shorter than 16 characters)`);
  } else {
    assert.ok(parsedTokens.success, `${label}: the token file is refused: ${parsedTokens.error?.message}`);
  }

  // Workers: GPU, identities, the coordinator's Service, NATS.
  const workers = qs.filter((c) => c.process === 'worker');
  assert.ok(workers.length >= 1, `${label}: no worker`);
  const workerIds = workers.map((w) => str(w.config, 'workerId'));
  assert.equal(new Set(workerIds).size, workerIds.length, `${label}: worker ids repeat (${workerIds.join(', ')}): workers with one id replace each other at the coordinator`);
  for (const worker of workers) {
    const ww = `${label} worker ${worker.podName}`;
    assert.equal(String(worker.container.resources?.limits?.['nvidia.com/gpu']), '1', `${ww}: limits nvidia.com/gpu: 1`);
    assert.equal(cluster.imageOf(worker.container.image), 'quicksilver-gpu', `${ww}: runs the GPU image (Vulkan loader), not ${worker.container.image}`);
    assert.ok(Number(worker.env.UV_THREADPOOL_SIZE) > (worker.config.decodeConcurrency as number), `${ww}: UV_THREADPOOL_SIZE must exceed decodeConcurrency ${String(worker.config.decodeConcurrency)} (docs/gpu.md)`);
    assert.ok(String(worker.env.NVIDIA_DRIVER_CAPABILITIES).split(',').includes('graphics') || !(worker.config.executionProviders as string[]).includes('webgpu'),
      `${ww}: webgpu needs NVIDIA_DRIVER_CAPABILITIES with graphics (Vulkan libraries)`);
    assert.equal(str(worker.config, 'modelsDir'), imageModelsDir, `${ww}: modelsDir must be where the image has the models`);
    // Dials the coordinator's Service on its gRPC port, with TLS and its own token.
    const address = str(worker.config, 'coordinatorAddress');
    const service = cluster.get('Service', hostOf(address).split('.')[0], `${ww} coordinatorAddress ${address}`);
    assert.ok(selects(service.spec?.selector, coordinator.workload.spec?.template?.metadata?.labels), `${ww}: Service ${service.metadata.name} does not select the coordinator`);
    const servicePort = service.spec?.ports?.find((p) => p.port === portOf(address));
    assert.ok(servicePort, `${ww}: Service ${service.metadata.name} has no port ${portOf(address)}`);
    assert.equal(containerPort(coordinator.container, servicePort.targetPort ?? servicePort.port, ww), portOf(str(coordinator.config, 'grpcAddress')), `${ww}: the Service port does not reach the coordinator's gRPC port`);
    assert.ok(str(worker.config, 'tlsCaFile'), `${ww}: the coordinator serves TLS: tlsCaFile`);
    const workerId = str(worker.config, 'workerId');
    assert.ok(tokens.workers && workerId in tokens.workers, `${ww}: worker id ${workerId} has no token in the coordinator's token file (workers: ${Object.keys(tokens.workers ?? {}).join(', ')})`);
    const tokenFile = mountOf(worker.pod, worker.container, str(worker.config, 'authTokenFile'), ww, worker.env);
    const tokenSecret = tokenFile.volume.secret!.secretName;
    const token = cluster.value('Secret', tokenSecret, tokenFile.inside, `${ww} authTokenFile`).trim();
    assert.equal(token, tokens.workers[workerId], `${ww}: its token file differs from the coordinator's entry for ${workerId}`);
    // Only its own token: with another worker's it could register as that worker and push it out.
    assert.deepEqual(visibleSecretKeys(cluster, worker.pod, worker.container, tokenSecret, worker.env, ww), [tokenFile.inside],
      `${ww}: reads more of Secret ${tokenSecret} than its own token ${tokenFile.inside} (mount the one key: subPathExpr: $(POD_NAME))`);
  }
  const pdbs = cluster.all('PodDisruptionBudget');
  assert.ok(pdbs.some((pdb) => workers.every((w) => selects(pdb.spec?.selector?.matchLabels, w.workload.spec?.template?.metadata?.labels))), `${label}: no PodDisruptionBudget covers the workers`);
  for (const pdb of pdbs) assert.ok(cluster.workloads.some((w) => selects(pdb.spec?.selector?.matchLabels, w.spec?.template?.metadata?.labels)), `${label}: PodDisruptionBudget ${pdb.metadata.name} selects nothing`);

  // NATS: every natsServers URL reaches the NATS pods; one user, one password Secret; JetStream on a PVC.
  const nats = cluster.workloads.find((w) => w.spec?.template?.spec.containers.some((c) => /(^|\/)nats:/.test(c.image)));
  assert.ok(nats, `${label}: no NATS workload`);
  assert.equal(nats.kind, 'StatefulSet', `${label}: NATS is a StatefulSet (its store on a PVC)`);
  const natsContainer = nats.spec!.template!.spec.containers[0];
  const confPath = natsContainer.args?.[natsContainer.args.indexOf('--config') + 1];
  assert.ok(confPath, `${label}: nats runs with --config`);
  const confMount = mountOf(nats.spec!.template!.spec, natsContainer, confPath, `${label} nats --config`);
  const conf = parseNatsConf(cluster.value('ConfigMap', confMount.volume.configMap!.name, confMount.inside, `${label} nats.conf`), `${label} nats.conf`);
  assert.equal(containerPort(natsContainer, 'client', `${label} nats`), conf.port, `${label}: nats client port != nats.conf port`);
  for (const probe of [natsContainer.readinessProbe, natsContainer.livenessProbe, natsContainer.startupProbe]) {
    if (probe?.httpGet) assert.equal(containerPort(natsContainer, probe.httpGet.port, `${label} nats probe`), conf.httpPort, `${label}: nats probe not on http_port`);
  }
  const store = (natsContainer.volumeMounts ?? []).find((m) => under(conf.storeDir, m.mountPath));
  assert.ok(store && nats.spec?.volumeClaimTemplates?.some((t) => t.metadata.name === store.name), `${label}: JetStream store_dir ${conf.storeDir} is not on the StatefulSet's PVC`);
  // Every user's password from a Secret key of its own (nats-server refuses a config whose $VARIABLE is unset).
  const natsPasswords = new Map([...conf.users].map(([user, variable]) => {
    const ref = natsContainer.env?.find((e) => e.name === variable)?.valueFrom?.secretKeyRef;
    assert.ok(ref, `${label}: nats.conf takes ${user}'s password from $${variable}: set it from a Secret`);
    return [user, ref];
  }));
  assert.equal(new Set([...natsPasswords.values()].map((ref) => `${ref.name}/${ref.key}`)).size, natsPasswords.size, `${label}: each NATS user has its own Secret key`);
  for (const c of qs) {
    const servers = c.config.natsServers as string[];
    const cw2 = `${label} ${c.process} ${c.podName}`;
    for (const url of servers) {
      const service = cluster.get('Service', hostOf(url).split('.')[0], `${cw2} natsServers ${url}`);
      assert.ok(selects(service.spec?.selector, nats.spec?.template?.metadata?.labels), `${cw2}: ${url} does not reach the NATS pods`);
      const port = service.spec?.ports?.find((p) => p.port === portOf(url));
      assert.ok(port && containerPort(natsContainer, port.targetPort ?? port.port, cw2) === conf.port, `${cw2}: ${url} does not reach nats's client port`);
    }
    if (servers.length === 0) continue;
    const user = natsUserOf[c.process];
    assert.ok(user, `${cw2}: a ${c.process} does not connect to NATS`);
    assert.equal(str(c.config, 'natsUser'), user, `${cw2}: natsUser is not nats.conf's ${user}`);
    const ref = c.container.env?.find((e) => e.name === `${processes[c.process].prefix}_NATS_PASSWORD`)?.valueFrom?.secretKeyRef;
    const natsPassword = natsPasswords.get(user)!;
    assert.deepEqual(ref, natsPassword, `${cw2}: the NATS password must come from the Secret key nats.conf uses for ${user} (${natsPassword.name}/${natsPassword.key})`);
    // Only its own password: any other NATS user's env would give it that user's rights.
    const others = [...natsPasswords].filter(([other]) => other !== user).map(([, r]) => r);
    for (const e of c.container.env ?? []) {
      assert.ok(!others.some((r) => r.name === e.valueFrom?.secretKeyRef?.name && r.key === e.valueFrom.secretKeyRef.key), `${cw2}: ${e.name} reads another NATS user's password`);
    }
  }
  if (options.placeholders) {
    for (const secret of cluster.all('Secret')) {
      for (const key of Object.keys(secret.data ?? {})) {
        assert.match(cluster.value('Secret', secret.metadata.name, key, 'placeholder check'), /REPLACE-ME/, `${label}: Secret ${secret.metadata.name}/${key} is not a placeholder: real secrets must not be committed`);
      }
    }
  }
  for (const [user, ref] of natsPasswords) {
    const natsSecret = cluster.value('Secret', ref.name, ref.key, `${label} nats password of ${user}`);
    assert.ok(!/\s$/.test(natsSecret), `${label}: ${user}'s NATS password ends with whitespace (a trailing newline): nats.conf and the clients would disagree`);
  }
}

// ---------------------------------------------------------------- images (Dockerfiles, kustomize images)

interface Stage { name?: string; from: string; lines: { op: string; args: string }[] }
function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  const joined = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const line of joined) {
    const [, op, rest] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    assert.ok(op, `Dockerfile line: ${line}`);
    const upper = op.toUpperCase();
    if (upper === 'FROM') {
      const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(rest)!;
      stages.push({ name, from: from.replace(/\$\{(\w+)\}/g, (_, n: string) => args[n] ?? ''), lines: [] });
    } else if (stages.length === 0) {
      assert.equal(upper, 'ARG', `only ARG before the first FROM: ${line}`);
      const [n, v = ''] = rest.split('=');
      args[n] = v;
    } else stages.at(-1)!.lines.push({ op: upper, args: rest });
  }
  return { args, stages };
}

const dockerfile = parseDockerfile(read(deploy, 'docker', 'Dockerfile'));
const gpuDockerfile = parseDockerfile(read(deploy, 'docker', 'Dockerfile.gpu'));
const runtimeStage = dockerfile.stages.at(-1)!;
const workdirOf = (stage: Stage) => stage.lines.filter((l) => l.op === 'WORKDIR').at(-1)?.args ?? '/';
const imageModelsDir = posix.join(workdirOf(runtimeStage), 'models');
/** node images: user node is uid 1000. */
const imageUid = runtimeStage.lines.filter((l) => l.op === 'USER').at(-1)?.args === 'node' ? 1000 : Number.NaN;
const k8sImages = (parse(read(k8sDir, 'kustomization.yaml')) as Kustomization).images ?? [];
const isQuicksilverImage = (image: string) => new Cluster([], 'base', false).imageOf(image) !== undefined;

// .dockerignore: Go filepath.Match patterns plus **, later lines win, ! re-includes.
function dockerIgnored(path: string): boolean {
  let ignored = false;
  for (const raw of read(root, '.dockerignore').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    const pattern = posix.normalize((negate ? line.slice(1) : line).replace(/^\//, ''));
    const re = new RegExp(`^${pattern.split('**').map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('.*')}(/.*)?$`);
    if (re.test(path)) ignored = !negate;
  }
  return ignored;
}

// ---------------------------------------------------------------- Prometheus, compose

const prometheusJobs = new Set((parse(read(deploy, 'prometheus', 'prometheus.yml')) as { scrape_configs: { job_name: string }[] }).scrape_configs.map((s) => s.job_name));

/** Compose interpolation: ${VAR:-default} -> default, ${VAR:?message} -> a stand-in, ${VAR} -> ''. */
function interpolate<T>(value: T): T {
  if (typeof value === 'string') {
    return value.replace(/\$\{(\w+)(?::?([-?])([^}]*))?\}/g, (_, name: string, op?: string, arg?: string) => op === '-' ? arg ?? '' : op === '?' ? `stand-in-for-${name}` : '') as T;
  }
  if (Array.isArray(value)) return value.map(interpolate) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v)])) as T;
  return value;
}

type ComposeVolume = string | { type: string; source: string; target: string };
interface ComposeService {
  image?: string; command?: string[]; environment?: Record<string, string | number | boolean>; secrets?: string[];
  volumes?: ComposeVolume[]; ports?: string[];
  stop_grace_period?: string; healthcheck?: { test: string[] }; depends_on?: Record<string, unknown> | string[]; cpu_shares?: number;
  deploy?: { resources?: { reservations?: { devices?: { driver?: string; capabilities?: string[] }[] } } };
}
interface ComposeFile { services: Record<string, ComposeService>; secrets?: Record<string, { file: string }>; volumes?: Record<string, unknown> }
const readCompose = (file: string) => interpolate(parse(read(deploy, 'docker', file), { merge: true }) as ComposeFile);
const composeEnv = (service: ComposeService) => Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v)]));
const volumeSpec = (v: ComposeVolume) =>
  typeof v === 'string' ? { source: v.split(':')[0], target: v.split(':')[1] } : { source: v.source, target: v.target };

// ---------------------------------------------------------------- tests

describe('deploy/k8s: the kustomize base', () => {
  it('defines what it references, and every setting, port, probe, grace period and identity fits the code', () => {
    const { objects } = buildKustomization(k8sDir);
    checkCluster(new Cluster(objects, 'deploy/k8s', false), { placeholders: true });
  });

  it('namespaces everything, and tags the images with package.json\'s version', () => {
    const { objects, kustomization } = buildKustomization(k8sDir);
    assert.ok(kustomization.namespace && objects.some((o) => o.kind === 'Namespace' && o.metadata.name === kustomization.namespace), 'the namespace is defined');
    for (const name of ['quicksilver', 'quicksilver-gpu']) {
      const image = kustomization.images?.find((i) => i.name === name);
      assert.ok(image, `kustomization images: ${name}`);
      assert.equal(image.newTag, version, `${name}: tag follows package.json ${version}`);
      assert.equal(image.newName, undefined, `${name}: the base keeps the name, so overlays can match it (images: [{name: ${name}, newName: ...}])`);
    }
    for (const workload of objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')) {
      for (const container of workload.spec!.template!.spec.containers) {
        assert.ok(!/quicksilver/.test(container.image) || isQuicksilverImage(container.image), `${container.image}: use "quicksilver" or "quicksilver-gpu" (set by kustomization images)`);
      }
    }
  });

  it('keeps secrets out of the repository: placeholders only, no private key anywhere in deploy/', () => {
    const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]);
    for (const file of walk(deploy)) {
      assert.doesNotMatch(readFileSync(file, 'utf8'), /-----BEGIN [A-Z ]*PRIVATE KEY-----/, `${relative(root, file)} holds a private key`);
    }
  });

  it('PodMonitor and the in-cluster scrape config keep the job names the alert rules use', () => {
    const { objects } = buildKustomization(k8sDir);
    const pods = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
    const monitor = buildKustomization(join(k8sDir, 'monitoring')).objects.find((o) => o.kind === 'PodMonitor');
    assert.ok(monitor?.spec?.jobLabel, 'PodMonitor with jobLabel');
    for (const endpoint of monitor.spec.podMetricsEndpoints ?? []) {
      assert.equal(endpoint.path ?? '/metrics', '/metrics');
      const values = monitor.spec.selector?.matchExpressions?.find((e) => e.key === monitor.spec!.jobLabel)?.values ?? [];
      for (const job of values) {
        assert.ok(prometheusJobs.has(job), `PodMonitor job ${job} is not a job of prometheus.yml`);
        const workload = pods.find((w) => w.spec?.template?.metadata?.labels?.[monitor.spec!.jobLabel!] === job);
        assert.ok(workload?.spec?.template?.spec.containers.some((c) => c.ports?.some((p) => p.name === endpoint.port)), `PodMonitor: pods of ${job} have no port ${endpoint.port}`);
      }
    }
    const k8sScrape = parse(read(deploy, 'prometheus', 'prometheus-k8s.yml')) as { scrape_configs: { job_name: string; relabel_configs?: { source_labels: string[]; regex: string; action: string }[] }[] };
    assert.deepEqual(new Set(k8sScrape.scrape_configs.map((s) => s.job_name)), prometheusJobs, 'prometheus-k8s.yml has the jobs of prometheus.yml');
    for (const job of k8sScrape.scrape_configs.filter((s) => s.relabel_configs)) {
      const keep = job.relabel_configs!.find((r) => r.action === 'keep' && r.source_labels[0] === '__meta_kubernetes_pod_label_app_kubernetes_io_name');
      assert.ok(keep && pods.some((w) => w.spec?.template?.metadata?.labels?.['app.kubernetes.io/name'] === keep.regex), `prometheus-k8s.yml ${job.job_name}: keeps pods labelled ${keep?.regex}, which do not exist`);
      const port = job.relabel_configs!.find((r) => r.action === 'keep' && r.source_labels[0] === '__meta_kubernetes_pod_container_port_name');
      assert.equal(port?.regex, 'metrics', `prometheus-k8s.yml ${job.job_name}: scrape the port named metrics`);
    }
  });
});

describe('deploy/k8s rendered by kubectl kustomize', () => {
  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  const skip = kubectl.error || kubectl.status !== 0 ? 'kubectl is not on PATH (the raw manifests are checked above)' : false;
  const kustomize = (dir: string) => {
    const run = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 16 * 2 ** 20 });
    assert.equal(run.status, 0, `kubectl kustomize ${dir}: ${run.stderr}`);
    return yamlObjects(run.stdout);
  };

  it('renders, with the same objects as the raw base, and passes the same checks', { skip, timeout: 60_000 }, () => {
    const rendered = kustomize(k8sDir);
    // Generated ConfigMaps and Secrets get a content hash suffix.
    const key = (o: K8sObject) => `${o.kind}/${o.kind === 'ConfigMap' || o.kind === 'Secret' ? o.metadata.name.replace(/-[a-z0-9]{10}$/, '') : o.metadata.name}`;
    assert.deepEqual(rendered.map(key).sort(), buildKustomization(k8sDir).objects.map(key).sort());
    for (const o of rendered) if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'quicksilver', `${o.kind}/${o.metadata.name} namespaced`);
    checkCluster(new Cluster(rendered, 'kubectl kustomize deploy/k8s', true), { placeholders: true });
    assert.equal(kustomize(join(k8sDir, 'monitoring')).filter((o) => o.kind === 'PodMonitor').length, 1);
  });

  it('the overlay of docs/deploy.md (Secrets replaced, images, stations Service) renders a configuration the coordinator accepts', { skip, timeout: 60_000 }, () => {
    const doc = read(root, 'docs', 'deploy.md');
    const overlayText = /cat > kustomization\.yaml <<'EOF'\n([\s\S]*?)\nEOF\n/.exec(doc)?.[1];
    const stationsService = /`stations-service\.yaml`:\n\n```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(overlayText && stationsService, 'docs/deploy.md: the overlay kustomization.yaml and stations-service.yaml blocks');
    const overlay = parse(overlayText) as Kustomization;
    const dir = mkdtempSync(join(tmpdir(), 'qs-overlay-'));
    try {
      overlay.resources![0] = relative(dir, k8sDir); // the docs' stand-in path
      writeFileSync(join(dir, 'kustomization.yaml'), JSON.stringify(overlay));
      writeFileSync(join(dir, 'stations-service.yaml'), stationsService);
      // What dev-certs.sh and the printf of the docs write (tokens: 32 random bytes, hex).
      mkdirSync(join(dir, 'certs'));
      const token = () => randomBytes(32).toString('hex');
      const workers = { 'quicksilver-worker-0': token(), 'quicksilver-worker-1': token() };
      writeFileSync(join(dir, 'certs', 'tokens.json'), `${JSON.stringify({ stations: { 'conveyor-1': token(), 'conveyor-2': token() }, workers })}\n`);
      for (const [id, value] of Object.entries(workers)) writeFileSync(join(dir, 'certs', `worker-${id}.token`), `${value}\n`);
      for (const name of ['coordinator.crt', 'coordinator.key', 'ca.crt']) writeFileSync(join(dir, 'certs', name), `test ${name}\n`);
      for (const role of NATS_ROLE_NAMES) writeFileSync(join(dir, 'certs', `nats-${role}-password`), `p${token()}`);
      const rendered = kustomize(dir);
      assert.doesNotMatch(JSON.stringify(rendered), /UkVQTEFDRS1NRQ|REPLACE-ME/, 'no placeholder left');
      checkCluster(new Cluster(rendered, 'docs/deploy.md overlay', true, overlay.images), { placeholders: false });
      const stations = rendered.find((o) => o.kind === 'Service' && o.metadata.name === 'quicksilver-coordinator-stations');
      assert.ok(stations?.spec?.ports?.every((p) => p.port === 50051 && p.targetPort === 'grpc'), 'the stations Service exposes only gRPC');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('deploy/docker: images', () => {
  it('Dockerfile: node:20-bookworm-slim, npm ci without the CUDA download, non-root, tini, every source it needs', () => {
    assert.ok(dockerfile.stages.length >= 2, 'multi-stage');
    for (const stage of dockerfile.stages) assert.equal(stage.from, 'node:20-bookworm-slim', `stage ${stage.name}: FROM`);
    for (const stage of dockerfile.stages) {
      let skipInstall = false;
      for (const line of stage.lines) {
        if (line.op === 'ENV' && /ONNXRUNTIME_NODE_INSTALL=skip/.test(line.args)) skipInstall = true;
        if (line.op === 'RUN' && /npm ci/.test(line.args)) {
          assert.ok(skipInstall || /ONNXRUNTIME_NODE_INSTALL=skip/.test(line.args), `stage ${stage.name}: npm ci without ONNXRUNTIME_NODE_INSTALL=skip downloads from NuGet`);
        }
      }
    }
    assert.ok(runtimeStage.lines.some((l) => l.op === 'RUN' && /npm ci --omit=dev/.test(l.args)), 'runtime stage: npm ci --omit=dev');
    const user = runtimeStage.lines.filter((l) => l.op === 'USER').at(-1)?.args;
    assert.ok(user && user !== 'root' && user !== '0', `runtime stage runs as ${user}`);
    assert.equal(imageUid, 1000, 'USER node (uid 1000): the manifests run as it');
    const entrypoint = JSON.parse(runtimeStage.lines.find((l) => l.op === 'ENTRYPOINT')!.args) as string[];
    assert.match(entrypoint[0], /tini$/, 'tini is PID 1 (signals reach node, the drain runs)');
    assert.ok(runtimeStage.lines.some((l) => l.op === 'RUN' && /install .*\btini\b/.test(l.args)), 'tini installed');
    assert.deepEqual(entrypoint.slice(-2 - SERVICE_NODE_FLAGS.length), ['node', ...SERVICE_NODE_FLAGS, posix.join(workdirOf(runtimeStage), 'bin/quicksilver.js')],
      'entrypoint runs bin/quicksilver.js with the service node flags (common/src/node-flags.ts); the command picks the process');

    // What tsc compiles (tsconfig include minus test/ and bench/) is copied into the build and its dist/ into the runtime.
    const include = (JSON.parse(read(root, 'tsconfig.json')) as { include: string[] }).include.map((p) => p.split('/')[0]).filter((p) => p !== 'test' && p !== 'bench');
    const copies = dockerfile.stages.flatMap((s) => s.lines.filter((l) => l.op === 'COPY').map((l) => ({ stage: s.name, args: l.args.split(/\s+/) })));
    for (const folder of include) {
      assert.ok(copies.some((c) => c.stage === 'build' && c.args[0] === folder), `build stage copies ${folder}/`);
      assert.ok(copies.some((c) => c.args.includes('--from=build') && c.args.includes(`/app/dist/${folder}`)), `runtime copies dist/${folder}`);
    }
    for (const needed of ['bin', 'proto', 'models', 'package.json']) {
      assert.ok(copies.some((c) => c.stage !== 'build' && !c.args[0].startsWith('--from') && c.args.slice(0, -1).includes(needed)), `runtime copies ${needed}`);
    }
    // Context files exist and .dockerignore does not drop them.
    for (const copy of copies.filter((c) => !c.args[0].startsWith('--from'))) {
      for (const source of copy.args.slice(0, -1)) {
        assert.ok(existsSync(join(root, source)), `COPY ${source}: not in the repository`);
        assert.ok(!dockerIgnored(source), `COPY ${source}: excluded by .dockerignore`);
      }
    }
    for (const excluded of ['node_modules', 'dist', '.git', 'deploy/docker/certs/ca.key', 'coordinator-outbox']) {
      assert.ok(dockerIgnored(excluded), `.dockerignore must exclude ${excluded}`);
    }
    // The ports it exposes are the config defaults.
    const exposed = runtimeStage.lines.filter((l) => l.op === 'EXPOSE').flatMap((l) => l.args.split(/\s+/).map(Number)).sort((a, b) => a - b);
    const coordinatorDefaults = loadConfig(CoordinatorConfigSchema, 'QS_UNUSED', {});
    const workerDefaults = loadConfig(WorkerConfigSchema, 'QS_UNUSED', {});
    assert.deepEqual(exposed, [portOf(coordinatorDefaults.grpcAddress), portOf(workerDefaults.healthAddress), coordinatorDefaults.metricsPort, workerDefaults.metricsPort].sort((a, b) => a - b));
    // The outbox folder of the manifests exists in the image, owned by its user (a fresh volume inherits it).
    assert.ok(runtimeStage.lines.some((l) => l.op === 'RUN' && /mkdir -p \/var\/lib\/quicksilver\/outbox/.test(l.args) && /chown -R node:node/.test(l.args)), 'outbox folder made and owned by node');
  });

  it('Dockerfile.gpu: on the base image, libvulkan1, the headless EGL ICD, graphics capability, valid worker settings', () => {
    assert.equal(gpuDockerfile.stages.length, 1);
    assert.equal(gpuDockerfile.stages[0].from, `quicksilver:${version}`, 'BASE_IMAGE default is the base image of this version');
    const lines = gpuDockerfile.stages[0].lines;
    assert.ok(lines.some((l) => l.op === 'RUN' && /apt-get install .*\blibvulkan1\b/.test(l.args)), 'libvulkan1');
    const env: Record<string, string> = {};
    for (const line of lines.filter((l) => l.op === 'ENV')) for (const [, k, v] of line.args.matchAll(/(\w+)=(\S+)/g)) env[k] = v;
    assert.ok(env.NVIDIA_DRIVER_CAPABILITIES?.split(',').includes('graphics'), 'NVIDIA_DRIVER_CAPABILITIES includes graphics');
    assert.equal(env.NVIDIA_VISIBLE_DEVICES, undefined, 'no image-wide NVIDIA_VISIBLE_DEVICES');
    const icd = lines.find((l) => l.op === 'RUN' && /libEGL_nvidia\.so\.0/.test(l.args));
    assert.ok(icd && env.VK_DRIVER_FILES && icd.args.includes(`> ${env.VK_DRIVER_FILES}`), 'VK_DRIVER_FILES points at the EGL ICD file the image writes');
    const qs = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('QS_')));
    const config = configOf('worker', qs, 'Dockerfile.gpu ENV');
    assert.equal(config.requireGpu, true);
    assert.equal(lines.filter((l) => l.op === 'USER').at(-1)?.args, 'node', 'back to the non-root user');
  });
});

describe('deploy/docker/docker-compose.yml', () => {
  const compose = readCompose('docker-compose.yml');
  const gpu = readCompose('docker-compose.gpu.yml');
  const quicksilver = Object.entries(compose.services).filter(([, s]) => s.image?.startsWith('quicksilver:'));
  const configs = new Map<string, { process: ProcessName; config: Config }>();

  before(() => {
    for (const [name, service] of quicksilver) {
      const process = service.command?.[0] as ProcessName;
      assert.ok(process === 'coordinator' || process === 'worker', `${name}: command[0] chooses the process`);
      configs.set(name, { process, config: configOf(process, composeEnv(service), `compose ${name}`) });
    }
  });

  it('every Quicksilver service: valid settings, grace period, health check, files on its secrets, image tag', () => {
    for (const [name, service] of quicksilver) {
      const { config } = configs.get(name)!;
      const where = `compose ${name}`;
      assert.equal(service.image, `quicksilver:${version}`, `${where}: image tag follows package.json`);
      assert.ok(service.stop_grace_period, `${where}: stop_grace_period (Docker's default 10 s is below shutdownGraceMs)`);
      assertGrace(parseSeconds(service.stop_grace_period), config, where);
      const url = service.healthcheck?.test.join(' ').match(/http:\/\/127\.0\.0\.1:(\d+)(\/\w+)/);
      assert.ok(url, `${where}: a health check on the metrics server`);
      assertProbe(url[2], Number(url[1]), config, where);
      assert.equal(url[2], '/readyz', `${where}: health = ready`);
      for (const [key, value] of Object.entries(config)) {
        if (!/File$/.test(key) || !value) continue;
        const secret = /^\/run\/secrets\/(\w+)$/.exec(value as string)?.[1];
        assert.ok(secret && service.secrets?.includes(secret), `${where} ${key}: ${String(value)} is not one of the service's secrets`);
        assert.ok(compose.secrets?.[secret], `${where}: secret ${secret} is not defined`);
      }
    }
  });

  it('coordinator: TLS and tokens, outbox on a named volume, published gRPC port', () => {
    const [name, service] = quicksilver.find(([n]) => configs.get(n)!.process === 'coordinator')!;
    const { config } = configs.get(name)!;
    assertCoordinatorWouldStart(config, `compose ${name}`);
    const outbox = (service.volumes ?? []).map(volumeSpec).find((v) => under(str(config, 'outboxDir'), v.target));
    assert.ok(outbox && compose.volumes && outbox.source in compose.volumes, `compose ${name}: outboxDir must be on a named volume`);
    assert.ok(service.ports?.some((p) => p.endsWith(`:${portOf(str(config, 'grpcAddress'))}`)), `compose ${name}: gRPC port published for the stations`);
    assert.equal(quicksilver.filter(([n]) => configs.get(n)!.process === 'coordinator').length, 1, 'one coordinator');
  });

  it('workers: distinct ids, each with its own token file from dev-certs.sh, dialing the coordinator with TLS', () => {
    const coordinator = [...configs.entries()].find(([, c]) => c.process === 'coordinator')!;
    const workers = [...configs.entries()].filter(([, c]) => c.process === 'worker');
    assert.ok(workers.length >= 1);
    const ids = workers.map(([, c]) => str(c.config, 'workerId'));
    assert.equal(new Set(ids).size, ids.length, `worker ids repeat (${ids.join(', ')}): they would replace each other at the coordinator`);
    for (const [name, { config }] of workers) {
      const where = `compose ${name}`;
      const address = str(config, 'coordinatorAddress');
      assert.equal(hostOf(address), coordinator[0], `${where}: dials the coordinator service`);
      assert.equal(portOf(address), portOf(str(coordinator[1].config, 'grpcAddress')), `${where}: the coordinator's gRPC port`);
      assert.ok(str(config, 'tlsCaFile'), `${where}: TLS`);
      const tokenSecret = /^\/run\/secrets\/(\w+)$/.exec(str(config, 'authTokenFile'))?.[1];
      assert.equal(compose.secrets?.[tokenSecret ?? '']?.file, `./certs/worker-${str(config, 'workerId')}.token`, `${where}: the token file dev-certs.sh writes for worker ${str(config, 'workerId')}`);
      assert.ok(Number(composeEnv(compose.services[name]).UV_THREADPOOL_SIZE) > (config.decodeConcurrency as number), `${where}: UV_THREADPOOL_SIZE > decodeConcurrency`);
      assert.equal(str(config, 'modelsDir'), imageModelsDir, `${where}: modelsDir is where the image has the models`);
    }
    for (const [secret, { file }] of Object.entries(compose.secrets ?? {})) {
      assert.match(file, /^\.\/certs\/(coordinator\.(crt|key)|ca\.crt|tokens\.json|worker-[\w.:-]+\.token)$/, `secret ${secret}: ${file} is not a file scripts/dev-certs.sh writes`);
    }
  });

  it('the split override: worker-1 conveyor only, worker-2 bulk only under SCHED_IDLE with the lowest CPU weight', () => {
    const split = readCompose('docker-compose.split.yml');
    assert.deepEqual(Object.keys(split.services).sort(), ['worker-1', 'worker-2']);
    const merged = (name: string) => configOf('worker', { ...composeEnv(compose.services[name]!), ...composeEnv(split.services[name]!) }, `compose split ${name}`);
    assert.deepEqual(merged('worker-1').priorities, ['realtime']);
    assert.equal(merged('worker-1').idleScheduling, false);
    assert.deepEqual(merged('worker-2').priorities, ['bulk']);
    assert.equal(merged('worker-2').idleScheduling, true);
    assert.equal(split.services['worker-2']!.cpu_shares, 2, 'worker-2: the lowest cgroup weight (its policy alone orders only its own threads)');
    assert.equal(split.services['worker-1']!.cpu_shares, undefined, 'worker-1 keeps the default weight');
  });

  it('NATS: JetStream on a volume, the users and ports the Quicksilver services use', () => {
    const nats = compose.services.nats;
    assert.ok(nats, 'a nats service');
    const confTarget = nats.command![nats.command!.indexOf('--config') + 1];
    const confVolume = (nats.volumes ?? []).map(volumeSpec).find((v) => v.target === confTarget);
    assert.ok(confVolume, 'nats.conf mounted where --config points');
    const conf = parseNatsConf(read(deploy, 'docker', confVolume.source), `docker ${confVolume.source}`);
    const data = (nats.volumes ?? []).map(volumeSpec).find((v) => under(conf.storeDir, v.target));
    assert.ok(data && compose.volumes && data.source in compose.volumes, `JetStream store_dir ${conf.storeDir} on a named volume`);
    for (const variable of conf.users.values()) assert.ok(composeEnv(nats)[variable], `nats gets $${variable}`);
    assert.match(nats.healthcheck!.test.join(' '), new RegExp(`:${conf.httpPort}/healthz`), 'health check on http_port');
    for (const [name, { process, config }] of configs) {
      for (const url of config.natsServers as string[]) {
        assert.equal(hostOf(url), 'nats', `${name}: ${url}`);
        assert.equal(portOf(url), conf.port, `${name}: ${url} port`);
      }
      if ((config.natsServers as string[]).length === 0) continue;
      const user = natsUserOf[process]!;
      assert.equal(str(config, 'natsUser'), user, `${name}: natsUser`);
      assert.equal(composeEnv(compose.services[name])[`${processes[process].prefix}_NATS_PASSWORD`], composeEnv(nats)[conf.users.get(user)!], `${name}: the NATS password of ${user} the server has`);
    }
  });

  it('Prometheus scrapes every Quicksilver service on its metrics port under the alert rules\' job names; Grafana gets the existing provisioning', () => {
    const prometheus = compose.services.prometheus;
    const configFile = prometheus.command!.find((a) => a.startsWith('--config.file='))!.split('=')[1];
    const mount = (prometheus.volumes ?? []).map(volumeSpec).find((v) => under(configFile, v.target))!;
    assert.equal(posix.normalize(mount.source), '../prometheus', 'deploy/prometheus mounted');
    const scrape = parse(read(deploy, 'prometheus', posix.relative(mount.target, configFile))) as { rule_files: string[]; scrape_configs: { job_name: string; static_configs?: { targets: string[] }[] }[] };
    assert.deepEqual(scrape.rule_files, ['alerts.yml']);
    assert.deepEqual(new Set(scrape.scrape_configs.map((s) => s.job_name)), prometheusJobs, 'the jobs of prometheus.yml');
    const targets = new Map(scrape.scrape_configs.flatMap((s) => (s.static_configs ?? []).flatMap((c) => c.targets.map((t) => [t, s.job_name] as const))));
    for (const [name, { process, config }] of configs) {
      assert.equal(targets.get(`${name}:${config.metricsPort}`), `quicksilver-${process}`, `compose ${name} is not scraped as job quicksilver-${process} on ${config.metricsPort}`);
    }
    for (const target of targets.keys()) assert.ok(compose.services[hostOf(target)], `scrape target ${target} is no compose service`);

    const grafana = compose.services.grafana;
    const mounts = (grafana.volumes ?? []).map(volumeSpec);
    const provider = parse(read(deploy, 'grafana', 'provisioning', 'dashboards', 'quicksilver.yml')) as { providers: { options: { path: string } }[] };
    assert.equal(posix.normalize(mounts.find((m) => m.target === provider.providers[0].options.path)?.source ?? ''), '../grafana/dashboards', 'dashboards where the provider looks');
    assert.ok(mounts.some((m) => posix.normalize(m.source) === '../grafana/provisioning/dashboards' && m.target === '/etc/grafana/provisioning/dashboards'), 'the dashboard provider');
    const datasourceMount = mounts.find((m) => m.target.startsWith('/etc/grafana/provisioning/datasources/'))!;
    const datasource = (parse(read(deploy, 'docker', datasourceMount.source)) as { datasources: { uid: string; url: string }[] }).datasources[0];
    const original = (parse(read(deploy, 'grafana', 'provisioning', 'datasources', 'prometheus.yml')) as { datasources: { uid: string }[] }).datasources[0];
    assert.equal(datasource.uid, original.uid, 'the dashboard\'s datasource uid');
    assert.equal(datasource.url, 'http://prometheus:9090', 'the compose Prometheus');
  });

  it('docker-compose.gpu.yml: GPU image, one NVIDIA device, valid GPU settings, on existing workers', () => {
    for (const [name, override] of Object.entries(gpu.services)) {
      const base = compose.services[name];
      assert.ok(base && configs.get(name)?.process === 'worker', `${name}: the override names a worker of docker-compose.yml`);
      assert.equal(override.image, `quicksilver-gpu:${version}`);
      const device = override.deploy?.resources?.reservations?.devices?.[0];
      assert.ok(device?.driver === 'nvidia' && device.capabilities?.includes('gpu'), `${name}: an NVIDIA device reservation`);
      const env = { ...composeEnv(base), ...composeEnv(override) };
      const config = configOf('worker', env, `compose gpu ${name}`);
      assert.equal(config.requireGpu, true, `${name}: requireGpu`);
      assert.ok(!(config.executionProviders as string[]).includes('cpu'), `${name}: no CPU fallback on a GPU host`);
      assert.ok(env.NVIDIA_DRIVER_CAPABILITIES?.split(',').includes('graphics'), `${name}: graphics capability for Vulkan`);
    }
  });
});

describe('deploy/systemd: the station agent', () => {
  it('its env file holds valid agent settings; the unit waits longer than the agent drains and may write the hot folder', () => {
    const unit = read(deploy, 'systemd', 'quicksilver-agent.service');
    const service = Object.fromEntries(unit.split('[Service]')[1].split('[')[0].split('\n').filter((l) => /^\w+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    assert.match(service.ExecStart, /\/bin\/quicksilver\.js agent$/);
    assert.equal(service.KillSignal, 'SIGTERM');
    const env = parseEnvFile(read(deploy, 'systemd', 'agent.env.example'));
    const config = configOf('agent', env, 'agent.env.example');
    assertGrace(parseSeconds(service.TimeoutStopSec), config, 'quicksilver-agent.service TimeoutStopSec');
    assert.ok(str(config, 'tlsCaFile') && str(config, 'authTokenFile'), 'the agent dials a remote coordinator: TLS and a token');
    const writable = (service.ReadWritePaths ?? '').split(/\s+/).filter(Boolean);
    if (service.ProtectSystem === 'strict') {
      for (const key of ['watchDir', 'doneDir', 'rejectedDir', 'spoolDir']) {
        const dir = str(config, key);
        if (dir) assert.ok(writable.some((w) => under(dir, w)), `ProtectSystem=strict: ${key} ${dir} is not under ReadWritePaths`);
      }
    }
    assert.ok(!isLoopbackAddress(`${config.metricsHost}:0`), 'agent metrics reachable by Prometheus');
  });
});

describe('probe paths and docs', () => {
  let server: MetricsServer;
  let ready = false;
  before(async () => {
    server = new MetricsServer(createRegistry('deploy-test'), { host: '127.0.0.1', port: 0, logger: createLogger({ name: 'deploy-test', level: 'silent' }), isReady: () => ready });
    await server.start();
  });
  after(async () => server.stop());

  it('every probe and health-check path of the manifests is served by the metrics server', async () => {
    const probePaths = new Set<string>();
    for (const workload of buildKustomization(k8sDir).objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')) {
      probePaths.add(workload.spec!.template!.metadata?.annotations?.['prometheus.io/path'] ?? '/metrics');
      for (const c of workload.spec!.template!.spec.containers.filter((c) => isQuicksilverImage(c.image))) {
        for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) if (probe?.httpGet) probePaths.add(probe.httpGet.path);
      }
    }
    for (const file of ['docker-compose.yml', 'docker-compose.gpu.yml']) {
      for (const service of Object.values(readCompose(file).services).filter((s) => s.image?.startsWith('quicksilver:'))) {
        const path = service.healthcheck?.test.join(' ').match(/http:\/\/127\.0\.0\.1:\d+(\/\w+)/)?.[1];
        if (path) probePaths.add(path);
      }
    }
    assert.deepEqual([...probePaths].sort(), ['/healthz', '/metrics', '/readyz']);
    ready = true;
    for (const path of probePaths) {
      const response = await fetch(`http://127.0.0.1:${server.port}${path}`);
      assert.equal(response.status, 200, `${path} answers ${response.status}`);
    }
    ready = false;
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/readyz`)).status, 503, '/readyz tells not-ready apart');
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status, 200, '/healthz stays alive while not ready');
  });

  it('docs/deploy.md exists, README links it, and every QS_* variable it names is a real setting', () => {
    const doc = read(root, 'docs', 'deploy.md');
    assert.match(read(root, 'README.md'), /\(docs\/deploy\.md\)/);
    for (const [name] of doc.matchAll(/\bQS_[A-Z0-9_]+[A-Z0-9]\b/g)) {
      assert.ok(allConfigEnv.has(name), `docs/deploy.md names ${name}, which is no setting`);
    }
  });
});
