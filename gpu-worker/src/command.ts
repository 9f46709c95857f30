import { Command } from 'commander';
import { addConfigOptions, flagsFrom } from '../../common/src/cli-options.js';
import { WORKER_ENV_PREFIX, WorkerConfigSchema } from './config.js';
import { main } from './main.js';

export function workerCommand(): Command {
  const command = new Command('worker').description('decode, batch and classify images with the ONNX model; dials the coordinator for tasks');
  addConfigOptions(command, WorkerConfigSchema, WORKER_ENV_PREFIX);
  return command.action(async (options: Record<string, unknown>) => main(flagsFrom(options)));
}
