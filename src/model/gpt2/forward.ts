// GPT-2's forward on the tensor engine, in the pieces the family seam asks for: the embedding (token + position
// tables), one pre-LN block (fused attention; the residual adds and GELU are epilogues of the matmuls), the final
// LayerNorm and the tied head. Parameters are looked up by their Hugging Face names (DESIGN.md).

import { attention, embedding, layernorm, matmul, matmulGelu, type Tensor } from '../../tensor';
import { attentionWithProbs } from '../../tensor/ops/attention-probs';
import { toHalfReleasing } from '../../tensor/ops/cast';
import type { BlockOptions, ParamLookup } from '../family';
import type { Gpt2Config } from './config';

/**
 * The attention half of a pre-LN block, over the residual stream x [B,T,C]: x + c_proj(attention(c_attn(ln_1(x)))).
 * `w` looks up the block's parameters by their names inside `h.{l}.`. The residual add is c_proj's epilogue.
 */
export function blockAttention(x: Tensor, w: ParamLookup, nHead: number, opts: BlockOptions = {}): Tensor {
  const h = layernorm(x, w('ln_1.weight'), w('ln_1.bias'), { half: opts.half });
  const qkv = matmul(h, w('attn.c_attn.weight'), { bias: w('attn.c_attn.bias') });
  let a: Tensor;
  if (opts.onProbs) {
    const { out, probs } = attentionWithProbs(qkv, nHead);
    opts.onProbs(probs);
    a = out;
  } else a = attention(qkv, nHead);
  const proj = w('attn.c_proj.weight');
  // An f16 weight copy (f16-mixed): the attention output goes in as halves too, so the product has two f16 operands
  // (what the tensor-core kernel takes). One rounding pass; attention's backward keeps reading the f32 output.
  if (proj.dtype === 'f16') a = toHalfReleasing(a);
  return matmul(a, proj, { bias: w('attn.c_proj.bias'), residual: x });
}

/** The MLP half: x + c_proj(GELU(c_fc(ln_2(x)))), GELU and the residual add fused into the matmuls. */
export function blockMlp(x: Tensor, w: ParamLookup, opts: BlockOptions = {}): Tensor {
  const h = layernorm(x, w('ln_2.weight'), w('ln_2.bias'), { half: opts.half });
  const f = matmulGelu(h, w('mlp.c_fc.weight'), { bias: w('mlp.c_fc.bias'), half: opts.half });
  return matmul(f, w('mlp.c_proj.weight'), { bias: w('mlp.c_proj.bias'), residual: x });
}

/** Token plus position embedding of tokens [B·T]: [B,T,C]. */
export function gpt2Embed(p: ParamLookup, _c: Gpt2Config, tokens: Int32Array, B: number, T: number): Tensor {
  return embedding(tokens, B, T, p('wte.weight'), p('wpe.weight'));
}

/** Block `layer`: attention then MLP, each adding into the residual stream. */
export function gpt2Block(p: ParamLookup, c: Gpt2Config, layer: number, x: Tensor, opts: BlockOptions): Tensor {
  const w = (n: string) => p(`h.${layer}.${n}`);
  return blockMlp(blockAttention(x, w, c.heads, opts), w, opts);
}

export function gpt2FinalNorm(p: ParamLookup, _c: Gpt2Config, x: Tensor, opts: { half?: boolean } = {}): Tensor {
  return layernorm(x, p('ln_f.weight'), p('ln_f.bias'), opts);
}

/** The head is tied to the token embedding. */
export function gpt2Head(p: ParamLookup): Tensor {
  return p('wte.weight');
}
