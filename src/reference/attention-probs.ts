// f64 reference for the attention-rank analysis: each layer's post-softmax attention averaged over the batch, from a
// plain GPT-2 forward composed of the op references (the same graph as reference/gpt2.ts, forward only).

import { addRef, geluRef, matmulRef, type F64 } from './linalg';
import { attentionRef, embeddingRef, layernormRef } from './nn';
import type { Gpt2RefConfig } from './gpt2';

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
export function attentionProbsRef(params: Map<string, F64>, cfg: Gpt2RefConfig, tokens: Int32Array, B: number, T: number): F64[] {
  const { C, L, H } = cfg;
  const D = C / H;
  const N = B * T;
  const p = (n: string) => {
    const v = params.get(n);
    if (!v) throw new Error(`missing parameter ${n}`);
    return v;
  };
  const lin = (x: F64, w: string, K: number, Nout: number) =>
    matmulRef(x, p(`${w}.weight`), p(`${w}.bias`), { M: N, N: Nout, K, batch: 1, transA: false, transB: false });
  const layers: F64[] = [];
  let x = embeddingRef(tokens, B, T, p('wte.weight'), p('wpe.weight'), C);
  for (let l = 0; l < L; l++) {
    const w = (n: string) => `h.${l}.${n}`;
    const h = layernormRef(x, p(w('ln_1.weight')), p(w('ln_1.bias')), N, C).y;
    const att = attentionRef(lin(h, w('attn.c_attn'), C, 3 * C), B, T, H, D);
    layers.push(meanProbsRef(att.probs, B, H, T));
    x = addRef(x, lin(att.out, w('attn.c_proj'), C, C));
    const h2 = layernormRef(x, p(w('ln_2.weight')), p(w('ln_2.bias')), N, C).y;
    x = addRef(x, lin(geluRef(lin(h2, w('mlp.c_fc'), C, 4 * C)), w('mlp.c_proj'), 4 * C, C));
  }
  return layers;
}
