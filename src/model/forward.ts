// GPT-2 forward to the loss on the tensor engine (pre-LN blocks, fused attention, tied head), recorded for backward.
// Parameters are looked up by their Hugging Face names (DESIGN.md), so checkpoints and references share one key set.

import { add, attention, crossEntropy, embedding, gelu, layernorm, matmul, tidy, type Tensor } from '../tensor';

export interface Gpt2Shape {
  nLayer: number;
  nHead: number;
}

export type ParamLookup = (name: string) => Tensor;

/** Mean next-token loss of `tokens` [B·T] against `targets` [B·T] (negative = ignored). */
export function gpt2Loss(p: ParamLookup, shape: Gpt2Shape, tokens: Int32Array, targets: Int32Array, B: number, T: number): Tensor {
  return tidy(() => {
    let x = embedding(tokens, B, T, p('wte.weight'), p('wpe.weight'));
    for (let l = 0; l < shape.nLayer; l++) {
      const w = (n: string) => p(`h.${l}.${n}`);
      const h = layernorm(x, w('ln_1.weight'), w('ln_1.bias'));
      const qkv = matmul(h, w('attn.c_attn.weight'), { bias: w('attn.c_attn.bias') });
      const a = attention(qkv, shape.nHead);
      x = add(x, matmul(a, w('attn.c_proj.weight'), { bias: w('attn.c_proj.bias') }));
      const h2 = layernorm(x, w('ln_2.weight'), w('ln_2.bias'));
      const f = gelu(matmul(h2, w('mlp.c_fc.weight'), { bias: w('mlp.c_fc.bias') }));
      x = add(x, matmul(f, w('mlp.c_proj.weight'), { bias: w('mlp.c_proj.bias') }));
    }
    const xf = layernorm(x, p('ln_f.weight'), p('ln_f.bias'));
    // Tied head: logits = x_f · wteᵀ.
    const logits = matmul(xf, p('wte.weight'), { transB: true });
    return crossEntropy(logits, targets);
  });
}

/** Hugging Face parameter names and shapes of a GPT-2 with the given sizes. */
export function gpt2ParamShapes(V: number, P: number, C: number, L: number): [string, number[]][] {
  const out: [string, number[]][] = [['wte.weight', [V, C]], ['wpe.weight', [P, C]]];
  for (let l = 0; l < L; l++) {
    const h = `h.${l}.`;
    out.push(
      [h + 'ln_1.weight', [C]], [h + 'ln_1.bias', [C]],
      [h + 'attn.c_attn.weight', [C, 3 * C]], [h + 'attn.c_attn.bias', [3 * C]],
      [h + 'attn.c_proj.weight', [C, C]], [h + 'attn.c_proj.bias', [C]],
      [h + 'ln_2.weight', [C]], [h + 'ln_2.bias', [C]],
      [h + 'mlp.c_fc.weight', [C, 4 * C]], [h + 'mlp.c_fc.bias', [4 * C]],
      [h + 'mlp.c_proj.weight', [4 * C, C]], [h + 'mlp.c_proj.bias', [C]],
    );
  }
  out.push(['ln_f.weight', [C]], ['ln_f.bias', [C]]);
  return out;
}
