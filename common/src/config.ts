// Config parsed once at startup. Each process declares a flat zod object whose fields carry
// a default and a description (.describe()). Values merge in this order, later wins:
//   schema defaults < JSON config file (--config) < environment (PREFIX_FIELD_NAME) < command-line flags.
// A bad value fails with one message naming the field, where it came from and what is expected.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { QuicksilverError } from './errors.js';

export type FlatSchema = z.ZodObject<Record<string, z.ZodType>>;

export interface FieldDoc {
  key: string;
  flag: string;
  env: string;
  kind: string;
  defaultValue: unknown;
  description: string;
}

export const toKebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const toEnv = (prefix: string, key: string) => `${prefix}_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

/** The innermost type of a field (through default/optional wrappers): number, string, boolean, array, enum... */
function baseKind(field: z.ZodType): string {
  let current: z.ZodType = field;
  for (;;) {
    const def = (current as unknown as { def: { type: string; innerType?: z.ZodType } }).def;
    if ((def.type === 'default' || def.type === 'optional' || def.type === 'nullable' || def.type === 'prefault') && def.innerType) {
      current = def.innerType;
      continue;
    }
    return def.type;
  }
}

function defaultOf(field: z.ZodType): unknown {
  const def = (field as unknown as { def: { type: string; defaultValue?: unknown } }).def;
  if (def.type === 'default') return typeof def.defaultValue === 'function' ? (def.defaultValue as () => unknown)() : def.defaultValue;
  return undefined;
}

export function describeSchema(schema: FlatSchema, envPrefix: string): FieldDoc[] {
  return Object.entries(schema.shape).map(([key, field]) => ({
    key,
    flag: `--${toKebab(key)}`,
    env: toEnv(envPrefix, key),
    kind: baseKind(field),
    defaultValue: defaultOf(field),
    description: field.description ?? '',
  }));
}

/** Converts a string from the environment or a flag into the field's type. */
function coerceString(kind: string, raw: string): unknown {
  switch (kind) {
    case 'number': {
      const n = Number(raw);
      return raw.trim() === '' || Number.isNaN(n) ? raw : n;
    }
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      return raw;
    case 'array':
      return raw.split(',').map((s) => s.trim()).filter(Boolean);
    default:
      return raw;
  }
}

export interface ConfigSources {
  /** Path of a JSON config file; its keys are the camelCase field names. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag values keyed by camelCase field name (strings or already typed). */
  flags?: Record<string, unknown>;
}

export function loadConfig<S extends FlatSchema>(schema: S, envPrefix: string, sources: ConfigSources): z.infer<S> {
  const docs = describeSchema(schema, envPrefix);
  const merged: Record<string, unknown> = {};
  const origin: Record<string, string> = {};
  if (sources.file) {
    const parsed = readJsonFile(sources.file, 'config file');
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new QuicksilverError('CONFIG_INVALID', `config file ${sources.file} must hold a JSON object`);
    }
    for (const [key, value] of Object.entries(parsed)) {
      if (!Object.hasOwn(schema.shape, key)) {
        throw new QuicksilverError('CONFIG_INVALID', `config file ${sources.file}: unknown field '${key}' (known: ${Object.keys(schema.shape).join(', ')})`);
      }
      merged[key] = value;
      origin[key] = `config file ${sources.file}`;
    }
  }
  const env = sources.env ?? {};
  // A misspelt variable would otherwise be ignored without a word, as a misspelt file field is not.
  const knownEnv = new Set(docs.map((doc) => doc.env));
  const unknownEnv = Object.keys(env).filter((name) => name.startsWith(`${envPrefix}_`) && !knownEnv.has(name) && env[name] !== '');
  if (unknownEnv.length > 0) {
    const described = unknownEnv.map((name) => `${name} (did you mean ${closest(name, [...knownEnv])}?)`);
    throw new QuicksilverError('CONFIG_INVALID', `unknown environment variable${unknownEnv.length > 1 ? 's' : ''} ${described.join(', ')}; \`config-reference\` lists them all`);
  }
  for (const doc of docs) {
    const raw = env[doc.env];
    if (raw !== undefined && raw !== '') {
      merged[doc.key] = coerceString(doc.kind, raw);
      origin[doc.key] = `environment variable ${doc.env}`;
    }
  }
  for (const doc of docs) {
    const value = sources.flags?.[doc.key];
    if (value !== undefined) {
      merged[doc.key] = typeof value === 'string' ? coerceString(doc.kind, value) : value;
      origin[doc.key] = `flag ${doc.flag}`;
    }
  }
  const result = schema.strict().safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const from = origin[key] ?? 'default';
      return `${key || '(config)'} (from ${from}): ${issue.message}`;
    });
    throw new QuicksilverError('CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`);
  }
  return result.data as z.infer<S>;
}

/** The candidate nearest to `name` by edit distance. */
function closest(name: string, candidates: string[]): string {
  const distance = (a: string, b: string): number => {
    let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const current = [i];
      for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
    return previous[b.length]!;
  };
  return candidates.reduce((best, candidate) => (distance(name, candidate) < distance(name, best) ? candidate : best));
}

/**
 * Reads a JSON file that may hold secrets (config, token files). A syntax error is reported by line and
 * column where V8 gives a position, never with V8's message: that quotes the text around the error, which
 * may be part of a password or token.
 */
export function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new QuicksilverError('CONFIG_INVALID', `cannot read the ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    let where = '';
    if (position !== undefined) {
      const before = text.slice(0, Number(position));
      const line = before.split('\n').length;
      where = ` at line ${line}, column ${Number(position) - before.lastIndexOf('\n')}`;
    }
    throw new QuicksilverError('CONFIG_INVALID', `the ${what} ${path} is not valid JSON${where}`);
  }
}
