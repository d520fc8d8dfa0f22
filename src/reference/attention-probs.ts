// f64 reference for the attention-rank analysis: each layer's post-softmax attention averaged over the batch, from the
// blocks' forward of reference/gpt2.ts.

import type { F64 } from './linalg';
import { gpt2BlocksRef, type Gpt2RefConfig } from './gpt2';

/** Mean over b of the per-(b,h) probabilities [T,T], laid out [H,T,T]; `probs` is attentionRef's list, b-major. */
export function meanProbsRef(probs: F64[], B: number, H: number, T: number): F64 {
  const out = new Float64Array(H * T * T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const P = probs[b * H + h]!;
      for (let e = 0; e < T * T; e++) out[h * T * T + e] += P[e]! / B;
    }
  }
  return out;
}

/** One [H,T,T] batch-mean attention matrix per layer for `tokens` [B·T]. */
export function attentionProbsRef(
  params: Map<string, F64>,
  cfg: Gpt2RefConfig,
  tokens: Int32Array,
  B: number,
  T: number,
): F64[] {
  return gpt2BlocksRef(params, cfg, tokens, B, T).saved.map((s) => meanProbsRef(s.probs, B, cfg.H, T));
}
