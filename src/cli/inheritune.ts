// The `inheritune` command line (Node, same engine as the page). Errors print one line and exit non-zero.

import { acquireNodeDevice } from '../gpu/node';
import { Gpu } from '../gpu/runtime';
import { inheritedConfig } from '../io/checkpoint';
import { maxWindows, splitTokens } from '../io/corpus';
import { Gpt2Model } from '../model/gpt2';
import { paramCount } from '../model/params';
import { validationLoss } from '../train/evaluate';
import { parseFlags, UsageError } from './args';
import { analyzeCommand, ANALYZE_USAGE } from './analyze';
import { loadCheckpoint, loadCorpus, progress } from './load';
import { INHERIT_ENTRY, inheritCommand, RUN_ENTRY, runCommand, TRAIN_ENTRY, trainCommand } from './run';
import { TRAIN_FLAGS_USAGE } from './settings';

const EVAL_ENTRY = `  eval --model <dir-or-file> --data <text-file> [--ctx T] [--windows W] [--layers n] [--json]
      validation loss (mean next-token cross-entropy over the first W windows of ctx+1 tokens of the last 10% of the
      corpus); with --layers n, of the model that inherits the first n blocks, untrained.`;

/** What `inheritune <command> --help` prints: the command's entry, with the training options where it takes them. */
const COMMAND_HELP: Record<string, string> = {
  eval: EVAL_ENTRY,
  run: `${RUN_ENTRY}\n${TRAIN_FLAGS_USAGE}`,
  inherit: INHERIT_ENTRY,
  train: `${TRAIN_ENTRY}\n${TRAIN_FLAGS_USAGE}`,
  analyze: ANALYZE_USAGE,
};

const USAGE = `usage: inheritune <command> [options]   (inheritune <command> --help: that command's options)

commands:
${EVAL_ENTRY}
${RUN_ENTRY}
${INHERIT_ENTRY}
${TRAIN_ENTRY}
${TRAIN_FLAGS_USAGE}
${ANALYZE_USAGE}`;

const isHelp = (arg: string | undefined) => arg === '--help' || arg === '-h';

async function evalCommand(argv: string[]): Promise<void> {
  const f = parseFlags(
    argv,
    {
      model: { type: 'string', required: true },
      data: { type: 'string', required: true },
      ctx: { type: 'int' },
      windows: { type: 'int' },
      layers: { type: 'int' },
      json: { type: 'bool' },
    },
    'eval',
  );
  const { ckpt, src } = await loadCheckpoint(f.model as string);
  try {
    const ctx = (f.ctx as number | undefined) ?? Math.min(ckpt.config.nPositions, 1024);
    if (ctx < 1 || ctx > ckpt.config.nPositions)
      throw new UsageError(`--ctx must be from 1 to the model's n_positions ${ckpt.config.nPositions}, got ${ctx}`);
    const config = f.layers === undefined ? ckpt.config : inheritedConfig(ckpt.config, f.layers as number);
    const tokens = await loadCorpus(f.data as string);
    const { val } = splitTokens(tokens);
    const fit = maxWindows(val.length, ctx);
    if (fit < 1)
      throw new UsageError(
        `the corpus is too short: its validation split (last 10%) has ${val.length} tokens, one window of ctx ${ctx} needs ${ctx + 1}`,
      );
    const windows = (f.windows as number | undefined) ?? Math.min(fit, 64);
    if (windows < 1) throw new UsageError(`--windows must be at least 1, got ${windows}`);
    if (windows > fit)
      throw new UsageError(
        `--windows ${windows}: only ${fit} windows of ctx ${ctx} fit in the validation split (${val.length} tokens)`,
      );

    const gpu = new Gpu(await acquireNodeDevice());
    const model = await Gpt2Model.create(
      gpu,
      config,
      (name) => ckpt.read(name),
      (d, t) => progress('loading', d, t),
    );
    const t0 = performance.now();
    const loss = await validationLoss(model, val, ctx, windows, { onProgress: (d, t) => progress('evaluating', d, t) });
    const seconds = (performance.now() - t0) / 1000;
    const result = {
      val_loss: loss,
      ctx,
      windows,
      layers: config.nLayer,
      reference_layers: ckpt.config.nLayer,
      params: paramCount(config),
      tokens: { total: tokens.length, validation: val.length },
      adapter: gpu.description.description || gpu.description.architecture,
      seconds: Number(seconds.toFixed(2)),
      notes: ckpt.notes,
    };
    model.dispose();
    if (f.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      for (const n of ckpt.notes) process.stderr.write(`note: ${n}\n`);
      process.stdout.write(
        `val loss ${loss.toFixed(6)} (${config.nLayer}${f.layers === undefined ? '' : ` of ${ckpt.config.nLayer}`} layers, ${result.params.toLocaleString('en-US')} params; ` +
          `${windows} windows × ${ctx} tokens; ${result.adapter}; ${result.seconds} s)\n`,
      );
    }
  } finally {
    await src.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // `inheritune help run` and `inheritune run --help` (or -h, anywhere among its options) print run's usage.
  const topic = command === 'help' ? rest[0] : command !== undefined && rest.some(isHelp) ? command : undefined;
  if (topic !== undefined) {
    const help = COMMAND_HELP[topic];
    if (!help) throw new UsageError(`unknown command "${topic}"\n${USAGE}`);
    process.stdout.write(`usage: inheritune ${help.trimStart()}\n`);
    return 0;
  }
  if (!command || isHelp(command) || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  switch (command) {
    case 'eval':
      await evalCommand(rest);
      return 0;
    case 'run':
      return runCommand(rest);
    case 'inherit':
      return inheritCommand(rest);
    case 'train':
      return trainCommand(rest);
    case 'analyze':
      return analyzeCommand(rest);
    default:
      throw new UsageError(`unknown command "${command}"\n${USAGE}`);
  }
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
