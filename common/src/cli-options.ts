// Turns a process's flat config schema into commander options (one --kebab-flag per field, with
// its description, default and environment variable in --help), so flags and docs never drift.
import { Command, Option } from 'commander';
import { describeSchema, type FlatSchema } from './config.js';

export function addConfigOptions(command: Command, schema: FlatSchema, envPrefix: string): Command {
  command.option('--config <file>', 'JSON config file (keys are the camelCase field names)');
  for (const field of describeSchema(schema, envPrefix)) {
    const valueHint = field.kind === 'boolean' ? '[bool]' : field.kind === 'array' ? '<list>' : '<value>';
    const shown = field.defaultValue === undefined ? 'none' : JSON.stringify(field.defaultValue);
    const option = new Option(`${field.flag} ${valueHint}`, `${field.description} (default ${shown}; env ${field.env})`);
    command.addOption(option);
  }
  return command;
}

/** Commander gives camelCase keys already; drop the file option and undefined values. */
export function flagsFrom(options: Record<string, unknown>): { file?: string; flags: Record<string, unknown> } {
  const { config, ...rest } = options;
  const flags = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined).map(([k, v]) => [k, v === true ? 'true' : v]));
  return { file: typeof config === 'string' ? config : undefined, flags };
}

/** Commander argument parsers shared by the commands. */
export const parseWhole = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`expected a whole number, got '${value}'`);
  return n;
};
export const parseFraction = (value: string): number => {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new Error(`expected a number within [0, 1], got '${value}'`);
  return n;
};
