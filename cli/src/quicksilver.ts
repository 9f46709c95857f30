// The single `quicksilver` command. Each subcommand's options come from its config schema.
import { Command } from 'commander';
import { z } from 'zod';
import { feedbackJsonSchema } from '../../common/src/feedback.js';
import { VerdictEventSchema } from '../../common/src/verdict-event.js';
import { agentCommand } from '../../agent/src/command.js';
import { isErrorCode } from '../../common/src/errors.js';
import { coordinatorCommand } from '../../coordinator/src/command.js';
import { workerCommand } from '../../gpu-worker/src/command.js';
import { renderConfigurationReference } from './config-reference.js';
import { datasetCommand } from './commands/dataset.js';
import { demoCommand } from './commands/demo.js';
import { evaluateCommand } from './commands/evaluate.js';
import { rescanCommand } from './commands/rescan.js';
import { synthCommand } from './commands/synth.js';

const program = new Command('quicksilver')
  .description('Quicksilver: flags mercury-contaminated herbarium sheets from conveyor images with a CNN, at fleet scale.')
  .showHelpAfterError()
  .addCommand(coordinatorCommand())
  .addCommand(workerCommand())
  .addCommand(agentCommand())
  .addCommand(demoCommand())
  .addCommand(synthCommand())
  .addCommand(datasetCommand())
  .addCommand(evaluateCommand())
  .addCommand(rescanCommand())
  .addCommand(new Command('config-reference').description('print the configuration reference (docs/configuration.md) as Markdown')
    .action(() => { process.stdout.write(renderConfigurationReference()); }))
  .addCommand(new Command('verdict-schema').description('print the JSON Schema of the NATS verdict event (docs/schemas/verdict-event.schema.json)')
    .action(() => { process.stdout.write(`${JSON.stringify(z.toJSONSchema(VerdictEventSchema), null, 2)}\n`); }))
  .addCommand(new Command('feedback-schema').description('print the JSON Schema of the NATS feedback message (docs/schemas/feedback-event.schema.json)')
    .action(() => { process.stdout.write(feedbackJsonSchema()); }));

program.parseAsync(process.argv).catch((error: unknown) => {
  const err = error as { code?: string; message?: string };
  const prefix = err.code && isErrorCode(err.code) ? `${err.code}: ` : '';
  process.stderr.write(`quicksilver: ${prefix}${err.message ?? String(error)}\n`);
  process.exit(1);
});
