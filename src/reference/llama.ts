// A plain f64 Llama-family forward to the loss (DESIGN.md "Llama-family forward"), composed from the op references
// and keyed by transformers' parameter names: the graph-level reference for the variants no PyTorch fixture covers
// (Qwen2's q/k/v biases, Qwen3's per-head q/k norm and head size, tied heads, one key/value head, Llama 3's rope).

import { addRef, type F64, matmulRef } from './linalg';
import { rmsnormRef, ropeQkvRef, swigluRef } from './llama-ops';
import { attentionRef, crossEntropyRef } from './nn';

export interface LlamaRefConfig {
  V: number;
  C: number;
  L: number;
  H: number;
  KV: number;
  D: number;
  I: number;
  eps: number;
  /** Inverse rotary frequencies [D/2] (with any scaling applied). */
  invFreq: ArrayLike<number>;
  tied: boolean;
  qkvBias: boolean;
  oBias: boolean;
  qkNorm: boolean;
}

/** Mean next-token cross-entropy of one batch (targets < 0 ignored). */
export function llamaLossRef(
  params: Map<string, F64>,
  c: LlamaRefConfig,
  tokens: ArrayLike<number>,
  targets: ArrayLike<number>,
  B: number,
  T: number,
): number {
  const { V, C, L, H, KV, D, I, eps } = c;
  const N = B * T;
  const p = (n: string) => {
    const v = params.get(n);
    if (!v) throw new Error(`missing parameter ${n}`);
    return v;
  };
  // y = x·Wᵀ (+ b) for an nn.Linear W [out, in].
  const lin = (x: F64, w: string, K: number, out: number, bias: boolean) =>
    matmulRef(x, p(`${w}.weight`), bias ? p(`${w}.bias`) : null, {
      M: N,
      N: out,
      K,
      batch: 1,
      transA: false,
      transB: true,
    });
  const emb = p('model.embed_tokens.weight');
  let x: F64 = new Float64Array(N * C);
  for (let i = 0; i < N; i++) for (let j = 0; j < C; j++) x[i * C + j] = emb[tokens[i]! * C + j]!;
  for (let l = 0; l < L; l++) {
    const w = (n: string) => `model.layers.${l}.${n}`;
    const h = rmsnormRef(x, p(w('input_layernorm.weight')), N, C, eps);
    let q = lin(h, w('self_attn.q_proj'), C, H * D, c.qkvBias);
    let k = lin(h, w('self_attn.k_proj'), C, KV * D, c.qkvBias);
    const v = lin(h, w('self_attn.v_proj'), C, KV * D, c.qkvBias);
    if (c.qkNorm) {
      q = rmsnormRef(q, p(w('self_attn.q_norm.weight')), N * H, D, eps);
      k = rmsnormRef(k, p(w('self_attn.k_norm.weight')), N * KV, D, eps);
    }
    const qkv = ropeQkvRef(q, k, v, c.invFreq, { B, T, H, KV, D });
    const a = attentionRef(qkv, B, T, H, D, KV).out;
    x = addRef(x, lin(a, w('self_attn.o_proj'), H * D, C, c.oBias));
    const m = rmsnormRef(x, p(w('post_attention_layernorm.weight')), N, C, eps);
    const f = swigluRef(lin(m, w('mlp.gate_proj'), C, I, false), lin(m, w('mlp.up_proj'), C, I, false));
    x = addRef(x, lin(f, w('mlp.down_proj'), I, C, false));
  }
  const xf = rmsnormRef(x, p('model.norm.weight'), N, C, eps);
  const head = c.tied ? emb : p('lm_head.weight');
  const logits = matmulRef(xf, head, null, { M: N, N: V, K: C, batch: 1, transA: false, transB: true });
  return crossEntropyRef(logits, targets, N, V).loss;
}
