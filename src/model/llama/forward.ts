// The Llama family's forward on the tensor engine (DESIGN.md "Llama-family forward"), in the pieces the family seam
// asks for: the token embedding (no position table), one pre-RMSNorm block (q/k/v projections, Qwen3's per-head q/k
// norm, rotary embedding packed into qkv, grouped-query flash attention, o_proj adding into the residual; RMSNorm,
// SwiGLU, down_proj adding into the residual), the final RMSNorm and the head (lm_head, or the embedding when tied).

import {
  attention,
  embedding,
  matmul,
  reshape,
  rmsnorm,
  ropeInverseFrequencies,
  ropeQkv,
  swiglu,
  type Tensor,
} from '../../tensor';
import { attentionWithProbs } from '../../tensor/ops/attention-probs';
import { toHalfReleasing } from '../../tensor/ops/cast';
import type { BlockOptions, ParamLookup } from '../family';
import { type LlamaConfig, llamaInverseFrequencies } from './config';
import { EMBED, FINAL_NORM, LM_HEAD, layerPrefix } from './params';

const frequencies = new WeakMap<LlamaConfig, Float32Array>();

/** The config's inverse rotary frequencies (computed once per config object). */
function invFreq(c: LlamaConfig): Float32Array {
  let f = frequencies.get(c);
  if (!f) {
    f = llamaInverseFrequencies(c, ropeInverseFrequencies(c.headDim, c.ropeTheta));
    frequencies.set(c, f);
  }
  return f;
}

export function llamaEmbed(p: ParamLookup, _c: LlamaConfig, tokens: Int32Array, B: number, T: number): Tensor {
  return embedding(tokens, B, T, p(EMBED), null);
}

/** y = x·Wᵀ (+ bias) (+ residual) for an nn.Linear weight W [out, in]. */
function linear(x: Tensor, w: Tensor, opts: { bias?: Tensor; residual?: Tensor } = {}): Tensor {
  return matmul(x, w, { transB: true, ...opts });
}

export function llamaBlock(p: ParamLookup, c: LlamaConfig, layer: number, x: Tensor, opts: BlockOptions): Tensor {
  const w = (n: string) => p(layerPrefix(layer) + n);
  const { heads: H, kvHeads: KV, headDim: D, rmsEps: eps } = c;
  const [B, T] = x.shape as [number, number];

  const h = rmsnorm(x, w('input_layernorm.weight'), eps, { half: opts.half });
  const bias = (n: string) => (c.qkvBias ? { bias: w(`self_attn.${n}.bias`) } : {});
  let q = linear(h, w('self_attn.q_proj.weight'), bias('q_proj'));
  let k = linear(h, w('self_attn.k_proj.weight'), bias('k_proj'));
  const v = linear(h, w('self_attn.v_proj.weight'), bias('v_proj'));
  if (c.qkNorm) {
    q = reshape(rmsnorm(reshape(q, [B * T * H, D]), w('self_attn.q_norm.weight'), eps), [B, T, H * D]);
    k = reshape(rmsnorm(reshape(k, [B * T * KV, D]), w('self_attn.k_norm.weight'), eps), [B, T, KV * D]);
  }
  const qkv = ropeQkv(q, k, v, H, KV, invFreq(c));
  let a: Tensor;
  if (opts.onProbs) {
    const r = attentionWithProbs(qkv, H, KV);
    opts.onProbs(r.probs);
    a = r.out;
  } else a = attention(qkv, H, KV);
  const oProj = w('self_attn.o_proj.weight');
  // An f16 weight copy (f16-mixed): the attention output goes in as halves too (see GPT-2's block).
  if (oProj.dtype === 'f16') a = toHalfReleasing(a);
  const x1 = linear(a, oProj, {
    residual: x,
    ...(c.oBias ? { bias: w('self_attn.o_proj.bias') } : {}),
  });

  const m = rmsnorm(x1, w('post_attention_layernorm.weight'), eps, { half: opts.half });
  const gate = linear(m, w('mlp.gate_proj.weight'));
  const up = linear(m, w('mlp.up_proj.weight'));
  let f = swiglu(gate, up);
  if (opts.half) f = toHalfReleasing(f);
  return linear(f, w('mlp.down_proj.weight'), { residual: x1 });
}

export function llamaFinalNorm(p: ParamLookup, c: LlamaConfig, x: Tensor, opts: { half?: boolean } = {}): Tensor {
  return rmsnorm(x, p(FINAL_NORM), c.rmsEps, opts);
}

export function llamaHead(p: ParamLookup, c: LlamaConfig): Tensor {
  return p(c.tied ? EMBED : LM_HEAD);
}
