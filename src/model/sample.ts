// Text generation: next-token logits for the last position only (the head on one row, not T×V), then temperature
// and top-k sampling on the host with a seeded generator. Temperature 0 is greedy.

import { empty, matmul, noGrad, tidy } from '../tensor';
import type { Rng } from '../util/rng';
import type { Model } from './model';

export interface SampleOptions {
  /** 0 = greedy (argmax). */
  temperature: number;
  /** Keep only the k most likely tokens (0 or ≥ V: all). */
  topK: number;
  /** Only ids below this may be drawn: the tokenizer's vocabulary, where the model's is padded past it. */
  vocabLimit?: number;
}

/** Picks a token from logits: greedy at temperature 0, else softmax(logits/temperature) over the top k. */
export function sampleFromLogits(logits: Float32Array, opts: SampleOptions, rng: Rng): number {
  if (!(opts.temperature >= 0)) throw new Error(`temperature must be ≥ 0, got ${opts.temperature}`);
  if (!Number.isInteger(opts.topK) || opts.topK < 0)
    throw new Error(`top-k must be a non-negative integer, got ${opts.topK}`);
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  if (opts.temperature === 0 || opts.topK === 1) return best;
  const k = opts.topK === 0 ? logits.length : Math.min(opts.topK, logits.length);
  const order = k === logits.length ? Array.from(logits.keys()) : topIndices(logits, k);
  const max = logits[best]!;
  const w = order.map((i) => Math.exp((logits[i]! - max) / opts.temperature));
  const total = w.reduce((a, b) => a + b, 0);
  let u = rng.next() * total;
  for (let j = 0; j < order.length; j++) {
    u -= w[j]!;
    if (u < 0) return order[j]!;
  }
  return order[order.length - 1]!;
}

function topIndices(x: Float32Array, k: number): number[] {
  return Array.from(x.keys())
    .sort((a, b) => x[b]! - x[a]! || a - b)
    .slice(0, k);
}

/** Logits of the token after `tokens` (the last ≤ positions of them). */
export async function nextTokenLogits(model: Model, tokens: ArrayLike<number>): Promise<Float32Array> {
  const ctx = Int32Array.from(Array.from(tokens).slice(-model.config.positions));
  if (!ctx.length) throw new Error('sampling needs at least one prompt token');
  const T = ctx.length;
  const C = model.config.width;
  const logits = noGrad(() =>
    tidy(() => {
      const h = model.hidden(ctx, 1, T);
      const last = empty(model.gpu, [1, C]);
      model.gpu.copy(h.range((T - 1) * C, C), last.view);
      return matmul(last, model.head(), { transB: true });
    }),
  );
  const out = await logits.readF32();
  logits.dispose();
  return out;
}

/** Appends `steps` sampled tokens to the prompt; calls onToken after each (for streaming display). */
export async function generate(
  model: Model,
  prompt: ArrayLike<number>,
  steps: number,
  opts: SampleOptions,
  rng: Rng,
  onToken?: (id: number) => void,
): Promise<number[]> {
  const out = Array.from(prompt);
  for (let s = 0; s < steps; s++) {
    const logits = await nextTokenLogits(model, out);
    const id = sampleFromLogits(opts.vocabLimit ? logits.subarray(0, opts.vocabLimit) : logits, opts, rng);
    out.push(id);
    onToken?.(id);
  }
  return out.slice(prompt.length);
}
