// The `inheritune` command line (Node, same engine as the page). Errors print one line and exit non-zero.

import { ANALYZE_USAGE, analyzeCommand } from './analyze';
import { UsageError } from './args';
import { EVAL_ENTRY, evalCommand } from './eval';
import { INHERIT_ENTRY, inheritCommand } from './inherit';
import { RUN_ENTRY, runCommand } from './run';
import { TRAIN_FLAGS_USAGE } from './settings';
import { TRAIN_ENTRY, trainCommand } from './train';

/** Every command: what runs it and what `inheritune <command> --help` prints (the training options where it takes them). */
const COMMANDS = {
  eval: { run: evalCommand, help: EVAL_ENTRY },
  run: { run: (argv: string[]) => runCommand(argv), help: `${RUN_ENTRY}\n${TRAIN_FLAGS_USAGE}` },
  inherit: { run: inheritCommand, help: INHERIT_ENTRY },
  train: { run: (argv: string[]) => trainCommand(argv), help: `${TRAIN_ENTRY}\n${TRAIN_FLAGS_USAGE}` },
  analyze: { run: (argv: string[]) => analyzeCommand(argv), help: ANALYZE_USAGE },
} satisfies Record<string, { run: (argv: string[]) => Promise<number>; help: string }>;

const isCommand = (c: string): c is keyof typeof COMMANDS => Object.hasOwn(COMMANDS, c);

const USAGE = `usage: inheritune <command> [options]   (inheritune <command> --help: that command's options)

commands:
${EVAL_ENTRY}
${RUN_ENTRY}
${INHERIT_ENTRY}
${TRAIN_ENTRY}
${TRAIN_FLAGS_USAGE}
${ANALYZE_USAGE}`;

const isHelp = (arg: string | undefined) => arg === '--help' || arg === '-h';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // `inheritune help run` and `inheritune run --help` (or -h, anywhere among its options) print run's usage.
  const topic = command === 'help' ? rest[0] : command !== undefined && rest.some(isHelp) ? command : undefined;
  if (topic !== undefined) {
    if (!isCommand(topic)) throw new UsageError(`unknown command "${topic}"\n${USAGE}`);
    process.stdout.write(`usage: inheritune ${COMMANDS[topic].help.trimStart()}\n`);
    return 0;
  }
  if (!command || isHelp(command) || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  if (!isCommand(command)) throw new UsageError(`unknown command "${command}"\n${USAGE}`);
  return COMMANDS[command].run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    process.stderr.write(`inheritune: ${err.message}\n`);
    if (process.env.INHERITUNE_DEBUG) process.stderr.write(`${err.stack}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
