// Validation loss exactly as DESIGN.md defines it: the mean next-token cross-entropy over the first W windows of
// ctx+1 tokens of the validation stream, each window its own sequence from position 0. Batches of windows run
// without grad; per-batch means are combined on the host in f64, weighted by their rows.

import { validationWindows } from '../io/corpus';
import type { Model } from '../model/model';
import { noGrad, tidy } from '../tensor';

export interface EvalOptions {
  /** Windows per forward pass; default keeps B·ctx near 4096 rows. */
  batch?: number;
  onProgress?: (windowsDone: number, windows: number) => void;
}

export async function validationLoss(
  model: Model,
  val: Uint32Array,
  ctx: number,
  windows: number,
  opts: EvalOptions = {},
): Promise<number> {
  if (ctx > model.config.positions)
    throw new Error(`Context ${ctx} exceeds the model's ${model.config.positions} positions.`);
  const w = validationWindows(val, ctx, windows);
  const per = Math.max(1, Math.min(w.windows, opts.batch ?? Math.floor(4096 / ctx)));
  let total = 0;
  for (let i = 0; i < w.windows; i += per) {
    const B = Math.min(per, w.windows - i);
    const inputs = w.inputs.subarray(i * ctx, (i + B) * ctx);
    const targets = w.targets.subarray(i * ctx, (i + B) * ctx);
    const loss = noGrad(() => tidy(() => model.loss(inputs, targets, B, ctx)));
    const v = (await loss.readF32())[0]!;
    loss.dispose();
    if (!Number.isFinite(v))
      throw new Error(`Validation loss is ${v} on windows ${i}…${i + B - 1}: the model produces non-finite values.`);
    total += v * B;
    opts.onProgress?.(i + B, w.windows);
  }
  return total / w.windows;
}
