// Finds the models a worker serves (modelsDir/<name>/<version>/manifest.json, each verified by
// loadModel's SHA-256 guard) and resolves a request's model name to one of them.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { QuicksilverError, toQuicksilverError } from '../../common/src/errors.js';
import { loadModel, type LoadedModel, type ModelManifest } from '../../common/src/model-manifest.js';

export interface ModelDiscovery {
  loaded: LoadedModel[];
  /** Manifests that were refused, with the reason (MODEL_CHECKSUM_MISMATCH, MODEL_INVALID); also model
   *  folders that could not be listed (MODEL_INVALID, manifestPath = the folder): the others are still discovered. */
  failures: { manifestPath: string; error: QuicksilverError }[];
}

/**
 * Loads and verifies every modelsDir/<name>/<version>/manifest.json, except the folders `skip` names
 * (e.g. versions already served: a version is immutable). A <name> folder that cannot be listed (e.g. a
 * lost+found the worker may not read) is a failure of its own; the rest are still discovered. Throws
 * CONFIG_INVALID when modelsDir cannot be read or holds no manifest.
 */
export async function discoverModels(modelsDir: string, skip: (name: string, version: string) => boolean = () => false): Promise<ModelDiscovery> {
  const manifestPaths: string[] = [];
  const skipped = new Set<string>();
  const discovery: ModelDiscovery = { loaded: [], failures: [] };
  let names: string[];
  try {
    names = (await readdir(modelsDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch (error) {
    throw new QuicksilverError('CONFIG_INVALID', `cannot read models dir ${modelsDir}: ${(error as Error).message}`);
  }
  for (const name of names) {
    let versions;
    try {
      versions = (await readdir(join(modelsDir, name), { withFileTypes: true })).filter((d) => d.isDirectory());
    } catch (error) {
      discovery.failures.push({ manifestPath: join(modelsDir, name), error: new QuicksilverError('MODEL_INVALID',
        `cannot read model folder ${join(modelsDir, name)}: ${(error as Error).message}`, { cause: error }) });
      continue;
    }
    for (const version of versions) {
      const manifestPath = join(modelsDir, name, version.name, 'manifest.json');
      if (!(await stat(manifestPath).then((s) => s.isFile(), () => false))) continue;
      manifestPaths.push(manifestPath);
      if (skip(name, version.name)) skipped.add(manifestPath);
    }
  }
  if (manifestPaths.length === 0) {
    const unreadable = discovery.failures.map((f) => f.error.message);
    throw new QuicksilverError('CONFIG_INVALID', `no model found: expected ${join(modelsDir, '<name>/<version>/manifest.json')}`
      + (unreadable.length > 0 ? ` (${unreadable.join('; ')})` : ''));
  }
  for (const manifestPath of manifestPaths) {
    if (skipped.has(manifestPath)) continue;
    try {
      const model = await loadModel(manifestPath);
      const expected = join(modelsDir, model.manifest.name, model.manifest.version, 'manifest.json');
      if (expected !== manifestPath) {
        throw new QuicksilverError('MODEL_INVALID', `${manifestPath} declares ${model.manifest.name}@${model.manifest.version}: it belongs in ${expected}`);
      }
      discovery.loaded.push(model);
    } catch (error) {
      discovery.failures.push({ manifestPath, error: toQuicksilverError(error) });
    }
  }
  return discovery;
}

/** Orders semantic versions: numeric major.minor.patch, and a pre-release before its release. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core = '', pre] = v.split(/[-+]/, 2);
    return { parts: core.split('.').map(Number), pre: v.includes('-') ? (pre ?? '') : undefined };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) if (x.parts[i] !== y.parts[i]) return (x.parts[i] ?? 0) - (y.parts[i] ?? 0);
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return x.pre < y.pre ? -1 : 1;
}

/** The models being served, by name; each name's versions newest first. */
export class ModelStore<T extends { manifest: ModelManifest }> {
  private readonly byName = new Map<string, T[]>();

  add(model: T): void {
    const versions = this.byName.get(model.manifest.name) ?? [];
    versions.push(model);
    versions.sort((a, b) => compareVersions(b.manifest.version, a.manifest.version));
    this.byName.set(model.manifest.name, versions);
  }

  get size(): number {
    return this.all().length;
  }

  /** Every model, names in alphabetical order, newest version first. */
  all(): T[] {
    return [...this.byName.keys()].sort().flatMap((name) => this.byName.get(name)!);
  }

  /**
   * `undefined` or '' = the newest version of the first model (alphabetically); "name" = its newest
   * version; "name@version" = exactly that one. Throws UNKNOWN_MODEL.
   */
  resolve(modelName?: string): T {
    const [name, version] = modelName ? modelName.split('@', 2) : [undefined, undefined];
    const versions = name === undefined ? this.byName.get([...this.byName.keys()].sort()[0] ?? '') : this.byName.get(name);
    const model = version === undefined ? versions?.[0] : versions?.find((m) => m.manifest.version === version);
    if (!model) {
      const served = this.all().map((m) => `${m.manifest.name}@${m.manifest.version}`).join(', ') || 'none';
      throw new QuicksilverError('UNKNOWN_MODEL', `model '${modelName}' is not served here (serving: ${served})`);
    }
    return model;
  }

  remove(model: T): void {
    const versions = (this.byName.get(model.manifest.name) ?? []).filter((m) => m !== model);
    if (versions.length > 0) this.byName.set(model.manifest.name, versions);
    else this.byName.delete(model.manifest.name);
  }

  clear(): void {
    this.byName.clear();
  }
}
