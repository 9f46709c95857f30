import { Command } from 'commander';
import { addConfigOptions, flagsFrom } from '../../common/src/cli-options.js';
import { COORDINATOR_ENV_PREFIX, CoordinatorConfigSchema } from './config.js';
import { main } from './main.js';

export function coordinatorCommand(): Command {
  const command = new Command('coordinator').description('accept station streams, dispatch images to GPU workers, publish verdicts on NATS');
  addConfigOptions(command, CoordinatorConfigSchema, COORDINATOR_ENV_PREFIX);
  return command.action(async (options: Record<string, unknown>) => main(flagsFrom(options)));
}
