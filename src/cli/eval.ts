// `inheritune eval`: the validation loss of a checkpoint (DESIGN.md "Validation loss"), or of its first n blocks
// inherited and untrained.

import { acquireNodeDevice } from '../gpu/node';
import { Gpu } from '../gpu/runtime';
import { maxWindows } from '../io/corpus';
import { inheritedConfig, tokenizerOf } from '../model/checkpoint';
import { StreamedWeights } from '../model/streamed';
import { paramCount } from '../model/params';
import { streamedValidationLoss } from '../train/evaluate';
import { parseFlags, UsageError } from './args';
import { loadCheckpoint, loadCorpus, progress } from './load';

export const EVAL_ENTRY = `  eval --model <dir-or-file> --data <text-file> [--ctx T] [--windows W] [--layers n] [--json]
      validation loss (mean next-token cross-entropy over the first W windows of ctx+1 tokens of the last 10% of the
      corpus); with --layers n, of the model that inherits the first n blocks, untrained.`;

export async function evalCommand(argv: string[]): Promise<number> {
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
    const k = ckpt.config.layers;
    const positions = ckpt.config.positions;
    const ctx = (f.ctx as number | undefined) ?? Math.min(positions, 1024);
    if (ctx < 1 || ctx > positions)
      throw new UsageError(`--ctx must be from 1 to the model's ${positions} positions, got ${ctx}`);
    const layers = f.layers as number | undefined;
    if (layers !== undefined && (layers < 1 || layers > k))
      throw new UsageError(`--layers must be an integer from 1 to ${k} (the model has ${k} blocks), got ${layers}`);
    const config = layers === undefined ? ckpt.config : inheritedConfig(ckpt.config, layers);
    const { tokens, val } = await loadCorpus(f.data as string, tokenizerOf(config, ckpt.tokenizerFiles));
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
    // Layer by layer (each layer's weights read when its turn comes): the model need not fit on the GPU whole.
    const model = new StreamedWeights(gpu, config, (name) => ckpt.read(name));
    const t0 = performance.now();
    const loss = await streamedValidationLoss(model, val, ctx, windows, {
      onProgress: (d, t) => progress('evaluating', d, t),
    });
    const seconds = (performance.now() - t0) / 1000;
    const result = {
      val_loss: loss,
      ctx,
      windows,
      layers: config.layers,
      reference_layers: k,
      params: paramCount(config),
      tokens: { total: tokens.length, validation: val.length },
      adapter: gpu.description.description || gpu.description.architecture,
      seconds: Number(seconds.toFixed(2)),
      notes: ckpt.notes,
    };
    model.release();
    if (f.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      for (const n of ckpt.notes) process.stderr.write(`note: ${n}\n`);
      process.stdout.write(
        `val loss ${loss.toFixed(6)} (${config.layers}${layers === undefined ? '' : ` of ${k}`} layers, ${result.params.toLocaleString('en-US')} params; ` +
          `${windows} windows × ${ctx} tokens; ${result.adapter}; ${result.seconds} s)\n`,
      );
    }
  } finally {
    await src.close();
  }
  return 0;
}
