// Every differentiable op kind and the attributes its backward rule needs. Adding a kind here without a rule
// in backward.ts fails the type check.

import type { Tensor } from './tensor';

export interface OpAttrs {
  /** C[b] = alpha·op(A[b])·op(B[b]) + bias + R. inputs: [A, B, bias if bias, R if residual] */
  matmul: {
    transA: boolean;
    transB: boolean;
    alpha: number;
    batch: number;
    M: number;
    N: number;
    K: number;
    bias: boolean;
    residual: boolean;
  };
  /** y = a + b (same shape). inputs: [a, b] */
  add: Record<string, never>;
  /** y = s·x. inputs: [x] */
  scale: { factor: number };
  /** y = GELU_tanh(x). inputs: [x] */
  gelu: Record<string, never>;
  /** y = (x − μ)·rstd·w + b over the last dim C. inputs: [x, w, b]; mean, rstd: [rows] */
  layernorm: { rows: number; C: number; mean: Tensor; rstd: Tensor };
  /** y = x·rsqrt(mean(x²)+eps)·w over the last dim C. inputs: [x, w]; mean (zeros), rstd: [rows] */
  rmsnorm: { rows: number; C: number; mean: Tensor; rstd: Tensor };
  /** y = silu(g)·u. inputs: [g, u] */
  swiglu: Record<string, never>;
  /** q, k rotated by position (rotate-half), packed with v: [B,T,(H+2KV)·D]. inputs: [q, k, v]; table: cos/sin [T,D/2,2] (owned) */
  ropeQkv: { B: number; T: number; H: number; KV: number; D: number; table: Tensor };
  /** causal softmax(q·kᵀ/√D)·v per query head (key/value head h/(H/KV)), qkv [B,T,(H+2KV)·D] → [B,T,H·D]. lse: [B,H,T] */
  attention: { B: number; T: number; H: number; KV: number; D: number; lse: Tensor };
  /** mean over non-ignored rows of −log softmax(logits)[target]. inputs: [logits [N,V], targets i32 [N]]; lse: [N]; count: [1] */
  crossEntropy: { N: number; V: number; lse: Tensor; count: Tensor };
  /**
   * LM head + mean cross-entropy in row chunks: logits = x·wᵀ exist one chunk at a time, forward and backward.
   * inputs: [x [N,C], w [V,C], targets i32 [N]]; lse: [N]; count: [1]
   */
  /** pre: the gradients the forward pass made for backward seed `seed` (a training step's), else null. */
  headCrossEntropy: {
    N: number;
    V: number;
    C: number;
    chunk: number;
    lse: Tensor;
    count: Tensor;
    pre: { seed: Tensor; dx: Tensor | null; dw: Tensor | null } | null;
    /** The padded f16 head copy the forward multiplied (f16-mixed), kept for a recompute; else null. */
    half: Tensor | null;
  };
  /** Logit distillation through the head; its gradients made in the forward pass for `seed`. inputs: [x, w, targets] */
  headDistill: { seed: Tensor; dx: Tensor | null; dw: Tensor | null };
  /**
   * y = x (a view), with kd-hidden's cosine term scale·mean(1 − cos(x, teacher)) as a side loss whose gradient, for
   * `seed`, backward adds to dy. inputs: [x]; teacher, tgt (i32 [N]) and count ([1], the scored rows) owned
   */
  hiddenCosine: {
    N: number;
    C: number;
    V: number;
    scale: number;
    seed: Tensor;
    teacher: Tensor;
    tgt: Tensor;
    count: Tensor;
  };
  /** out[b,t] = table[tok[b,t]] (+ positions[t]). inputs: [table, positions if any]; tokens known on the host for the deterministic backward */
  embedding: { B: number; T: number; C: number; buckets: TokenBuckets };
  /** y = Σ x (scalar). inputs: [x] */
  sum: { n: number };
  /** Same data, another shape (a view). inputs: [x] */
  reshape: Record<string, never>;
  /** y = xᵀ for x [R, C]. inputs: [x] */
  transpose: { R: number; C: number };
  /** y = x rounded to f16 (an f16 tensor). inputs: [x] */
  toHalf: Record<string, never>;
}

export type OpKind = keyof OpAttrs;

/**
 * What each backward rule reads besides the output gradients: the indices of the inputs whose values it needs, and
 * whether it needs the outputs'. A node keeps exactly these alive until backward (a rule that only routes gradients,
 * like add's, keeps nothing), so an activation lives no longer than the last thing that reads it. Changing a rule
 * to read another tensor means listing it here, or the rule finds it released.
 */
export const SAVED: { [K in OpKind]: { inputs: readonly number[]; outputs: boolean } } = {
  matmul: { inputs: [0, 1], outputs: false }, // dA needs B, dB needs A; dbias needs neither
  add: { inputs: [], outputs: false },
  scale: { inputs: [], outputs: false },
  gelu: { inputs: [0], outputs: false },
  layernorm: { inputs: [0, 1], outputs: false }, // x and w (mean and rstd are owned by the node)
  attention: { inputs: [0], outputs: true }, // qkv and o
  rmsnorm: { inputs: [0, 1], outputs: false }, // x and w
  swiglu: { inputs: [0, 1], outputs: false },
  ropeQkv: { inputs: [], outputs: false }, // a rotation: its backward needs only the angles
  crossEntropy: { inputs: [0, 1], outputs: false },
  headCrossEntropy: { inputs: [0, 1, 2], outputs: false },
  headDistill: { inputs: [], outputs: false },
  hiddenCosine: { inputs: [0], outputs: false }, // x (the teacher's state is owned by the node)
  embedding: { inputs: [], outputs: false }, // the token buckets are in attrs
  sum: { inputs: [], outputs: false },
  reshape: { inputs: [], outputs: false },
  transpose: { inputs: [], outputs: false },
  toHalf: { inputs: [], outputs: false },
};

/** The batch's positions grouped by token id (CSR), built on the host: lets the token table's gradient be summed without atomics. */
export interface TokenBuckets {
  /** Distinct token ids, [U] */
  ids: Tensor;
  /** Start of each id's run in `positions`, [U+1] */
  starts: Tensor;
  /** Flattened b·T + t positions, grouped by id, ascending inside each group, [B·T] */
  positions: Tensor;
  unique: number;
}
