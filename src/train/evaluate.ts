// Validation loss exactly as DESIGN.md defines it: the mean next-token cross-entropy over the first W windows of
// ctx+1 tokens of the validation stream, each window its own sequence from position 0. Batches of windows run
// without grad; per-batch means are combined on the host in f64, weighted by their rows.

import { validationWindows } from '../io/corpus';
import type { Model } from '../model/model';
import type { StreamedWeights } from '../model/streamed';
import { headCrossEntropy, headTokenScores, noGrad, reshape, type Tensor, tidy } from '../tensor';

export interface EvalOptions {
  /** Windows per forward pass; default keeps B·ctx near 4096 rows. */
  batch?: number;
  onProgress?: (windowsDone: number, windows: number) => void;
}

/** Per-target scores (W·ctx each) a streamed evaluation fills in the same forward: see train/downstream.ts. */
export interface TokenScores {
  logp: Float32Array;
  top1: Float32Array;
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

/**
 * validationLoss of a model streamed layer by layer (model/streamed.ts): the same windows and batches, each stage's
 * weights loaded once for all of them; the hidden states of all windows stay on the GPU between stages (W·ctx·C
 * floats). For references larger than the adapter's memory.
 */
export async function streamedValidationLoss(
  weights: StreamedWeights,
  val: Uint32Array,
  ctx: number,
  windows: number,
  opts: EvalOptions & { scores?: TokenScores } = {},
): Promise<number> {
  const { family, config: c, lookup: p } = weights;
  if (ctx > c.positions) throw new Error(`Context ${ctx} exceeds the model's ${c.positions} positions.`);
  const w = validationWindows(val, ctx, windows);
  const per = Math.max(1, Math.min(w.windows, opts.batch ?? Math.floor(4096 / ctx)));
  const batches: { at: number; B: number; x: Tensor }[] = [];
  const stages = c.layers + 2;
  let done = 0;
  const step = () => opts.onProgress?.(Math.floor((++done * w.windows) / stages), w.windows);
  try {
    await weights.prepare('embed');
    for (let i = 0; i < w.windows; i += per) {
      const B = Math.min(per, w.windows - i);
      const x = noGrad(() => tidy(() => family.embed(p, c, w.inputs.subarray(i * ctx, (i + B) * ctx), B, ctx)));
      batches.push({ at: i, B, x });
    }
    step();
    for (let l = 0; l < c.layers; l++) {
      await weights.prepare(l);
      for (const b of batches) {
        const x = b.x;
        b.x = noGrad(() => tidy(() => family.block(p, c, l, x, {})));
        x.dispose();
      }
      step();
    }
    await weights.prepare('head');
    let total = 0;
    for (const b of batches) {
      const targets = w.targets.subarray(b.at * ctx, (b.at + b.B) * ctx);
      const loss = noGrad(() =>
        tidy(() => {
          const xf = family.finalNorm(p, c, b.x);
          return headCrossEntropy(reshape(xf, [b.B * ctx, xf.shape[2]!]), family.head(p, c), targets);
        }),
      );
      const v = (await loss.readF32())[0]!;
      loss.dispose();
      if (!Number.isFinite(v))
        throw new Error(
          `Validation loss is ${v} on windows ${b.at}…${b.at + b.B - 1}: the model produces non-finite values.`,
        );
      total += v * b.B;
      if (opts.scores) {
        const s = noGrad(() =>
          tidy(() => {
            const xf = family.finalNorm(p, c, b.x);
            return headTokenScores(reshape(xf, [b.B * ctx, xf.shape[2]!]), family.head(p, c), targets);
          }),
        );
        opts.scores.logp.set(await s.logp.readF32(), b.at * ctx);
        opts.scores.top1.set(await s.top1.readF32(), b.at * ctx);
        s.logp.dispose();
        s.top1.dispose();
      }
    }
    step();
    return total / w.windows;
  } finally {
    for (const b of batches) b.x.dispose();
    weights.release();
  }
}
