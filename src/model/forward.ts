// GPT-2 forward on the tensor engine (pre-LN blocks, fused attention, tied head), recorded for backward.
// Parameters are looked up by their Hugging Face names (DESIGN.md), so checkpoints and references share one key set.

import {
  attention,
  embedding,
  headCrossEntropy,
  layernorm,
  matmul,
  matmulGelu,
  reshape,
  tidy,
  type Tensor,
} from '../tensor';

export interface Gpt2Shape {
  nLayer: number;
  nHead: number;
  /**
   * Half-precision activations: the inputs of c_attn, c_fc and the MLP's c_proj (ln_1's and ln_2's outputs, the GELU's)
   * are kept as f16 for backward, written as halves by the kernels that make them (for an odd width, rounded after
   * and the f32 originals freed at once). Weights, gradients, the residual stream and every accumulation stay f32.
   */
  halfActivations?: boolean;
}

export type ParamLookup = (name: string) => Tensor;

export interface BlockOptions {
  /** Write ln_1's, ln_2's and the GELU's outputs as f16 (Gpt2Shape.halfActivations). */
  half?: boolean;
  /** Attention from qkv [B,T,3C] to [B,T,C]; the rank analysis passes one that also keeps the probabilities. */
  attend?: (qkv: Tensor, nHead: number) => Tensor;
}

/**
 * The attention half of a pre-LN block, over the residual stream x [B,T,C]: x + c_proj(attention(c_attn(ln_1(x)))).
 * `w` looks up the block's parameters by their names inside `h.{l}.`. The residual add is c_proj's epilogue.
 */
export function blockAttention(x: Tensor, w: ParamLookup, nHead: number, opts: BlockOptions = {}): Tensor {
  const h = layernorm(x, w('ln_1.weight'), w('ln_1.bias'), { half: opts.half });
  const qkv = matmul(h, w('attn.c_attn.weight'), { bias: w('attn.c_attn.bias') });
  const a = (opts.attend ?? attention)(qkv, nHead);
  return matmul(a, w('attn.c_proj.weight'), { bias: w('attn.c_proj.bias'), residual: x });
}

/** The MLP half: x + c_proj(GELU(c_fc(ln_2(x)))), GELU and the residual add fused into the matmuls. */
export function blockMlp(x: Tensor, w: ParamLookup, opts: BlockOptions = {}): Tensor {
  const h = layernorm(x, w('ln_2.weight'), w('ln_2.bias'), { half: opts.half });
  const f = matmulGelu(h, w('mlp.c_fc.weight'), { bias: w('mlp.c_fc.bias'), half: opts.half });
  return matmul(f, w('mlp.c_proj.weight'), { bias: w('mlp.c_proj.bias'), residual: x });
}

/** The final hidden states x_f [B·T, C] (after ln_f) of `tokens` [B·T]. */
export function gpt2Hidden(p: ParamLookup, shape: Gpt2Shape, tokens: Int32Array, B: number, T: number): Tensor {
  // LayerNorm and the GELU epilogue write their halves themselves.
  const half = !!shape.halfActivations;
  return tidy(() => {
    let x = embedding(tokens, B, T, p('wte.weight'), p('wpe.weight'));
    for (let l = 0; l < shape.nLayer; l++) {
      const w = (n: string) => p(`h.${l}.${n}`);
      // A block's own scope: what backward needs is held by the tape, the rest goes back to the pool now rather than
      // when the whole pass ends, so the pass peaks at the saved activations plus one block's temporaries.
      const input = x;
      x = tidy(() => blockMlp(blockAttention(input, w, shape.nHead, { half }), w, { half }));
      input.dispose(); // ln_1's node holds it for backward, if anything needs it
    }
    const xf = layernorm(x, p('ln_f.weight'), p('ln_f.bias'));
    return reshape(xf, [B * T, xf.shape[2]!]);
  });
}

/**
 * Mean next-token loss of `tokens` [B·T] against `targets` [B·T] (negative = ignored); the head runs in chunks. `seed`:
 * the gradient backward will be seeded with, when the caller knows it (the head then makes its gradients at once).
 */
export function gpt2Loss(
  p: ParamLookup,
  shape: Gpt2Shape,
  tokens: Int32Array,
  targets: Int32Array,
  B: number,
  T: number,
  seed?: Tensor,
): Tensor {
  return tidy(() => headCrossEntropy(gpt2Hidden(p, shape, tokens, B, T), p('wte.weight'), targets, { seed }));
}

/** Full logits [B·T, V] (tied head), for sampling and debugging small batches: B·T·V floats at once. */
export function gpt2Logits(p: ParamLookup, shape: Gpt2Shape, tokens: Int32Array, B: number, T: number): Tensor {
  return tidy(() => matmul(gpt2Hidden(p, shape, tokens, B, T), p('wte.weight'), { transB: true }));
}
