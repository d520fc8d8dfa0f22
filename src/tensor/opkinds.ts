// Every differentiable op kind and the attributes its backward rule needs. Adding a kind here without a rule
// in backward.ts fails the type check.

import type { Tensor } from './tensor';

export interface OpAttrs {
  /** C[b] = alpha·op(A[b])·op(B[b]) + bias. inputs: [A, B, bias?] */
  matmul: { transA: boolean; transB: boolean; alpha: number; batch: number; M: number; N: number; K: number };
  /** y = a + b (same shape). inputs: [a, b] */
  add: Record<string, never>;
  /** y = s·x. inputs: [x] */
  scale: { factor: number };
  /** y = GELU_tanh(x). inputs: [x] */
  gelu: Record<string, never>;
  /** y = (x − μ)·rstd·w + b over the last dim C. inputs: [x, w, b]; mean, rstd: [rows] */
  layernorm: { rows: number; C: number; mean: Tensor; rstd: Tensor };
  /** causal softmax(q·kᵀ/√D)·v per head, from qkv [B,T,3C] to [B,T,C]. lse: [B,H,T] */
  attention: { B: number; T: number; H: number; D: number; lse: Tensor };
  /** mean over non-ignored rows of −log softmax(logits)[target]. inputs: [logits [N,V], targets i32 [N]]; lse: [N]; count: [1] */
  crossEntropy: { N: number; V: number; lse: Tensor; count: Tensor };
  /**
   * Tied head + mean cross-entropy in row chunks: logits = x·wteᵀ exist one chunk at a time, forward and backward.
   * inputs: [x [N,C], wte [V,C], targets i32 [N]]; lse: [N]; count: [1]
   */
  /** pre: the gradients the forward pass made for backward seed `seed` (a training step's), else null. */
  headCrossEntropy: { N: number; V: number; C: number; chunk: number; lse: Tensor; count: Tensor; pre: { seed: Tensor; dx: Tensor | null; dwte: Tensor | null } | null };
  /** out[b,t] = wte[tok[b,t]] + wpe[t]. inputs: [wte, wpe]; tokens known on the host for the deterministic backward */
  embedding: { B: number; T: number; C: number; buckets: TokenBuckets };
  /** y = Σ x (scalar). inputs: [x] */
  sum: { n: number };
  /** Same data, another shape (a view). inputs: [x] */
  reshape: Record<string, never>;
  /** y = xᵀ for x [R, C]. inputs: [x] */
  transpose: { R: number; C: number };
}

export type OpKind = keyof OpAttrs;

/** The batch's positions grouped by token id (CSR), built on the host: lets the wte gradient be summed without atomics. */
export interface TokenBuckets {
  /** Distinct token ids, [U] */
  ids: Tensor;
  /** Start of each id's run in `positions`, [U+1] */
  starts: Tensor;
  /** Flattened b·T + t positions, grouped by id, ascending inside each group, [B·T] */
  positions: Tensor;
  unique: number;
}
