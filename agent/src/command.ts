// `quicksilver agent`: one option per config field (flag, env, default shown in --help).
import { Command } from 'commander';
import { addConfigOptions, flagsFrom } from '../../common/src/cli-options.js';
import { AGENT_ENV_PREFIX, agentConfigSchema } from './config.js';
import { main } from './main.js';

export function agentCommand(): Command {
  const command = new Command('agent').description(
    'scanner-station agent: watch a hot folder, stream complete images to the coordinator, show and file each verdict',
  );
  addConfigOptions(command, agentConfigSchema, AGENT_ENV_PREFIX);
  return command.action(async (options: Record<string, unknown>) => {
    const { file, flags } = flagsFrom(options);
    await main(flags, file);
  });
}
