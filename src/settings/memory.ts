// What a planned run will hold on the GPU, estimated before it starts (the reference card shows it against the
// adapter's limits): parameters, gradients and optimizer state of the n-block model, the activations one micro-batch
// keeps for backward, the head's chunk of logits and backward's waiting column sums; with a distillation baseline asked for, what its rounds add: the
// teacher. Pure: the page computes it as the form changes.

import type { Precision } from '../gpu/capabilities';
import type { OptimizerKind } from '../optim/optimizer';
import { WAITING_SUM_BYTES } from '../tensor/ops/colsum-budget';

/** The reference's facts the estimate needs (ReferenceInfo has them). */
export interface ModelFacts {
  blockParams: number;
  otherParams: number;
  savedPerToken: number;
  vocab: number;
  /** The reference's blocks and width (the distillation teacher is the whole reference). */
  layers: number;
  width: number;
}

export interface MemoryEstimate {
  /** Parameters of the n-block model. */
  paramCount: number;
  /** Their bytes: the f32 values and, for f16-mixed, the f16 copies. */
  params: number;
  grads: number;
  optimizer: number;
  activations: number;
  head: number;
  /**
   * What a kd or kd-hidden round adds while it trains (0 without one): the whole reference as teacher (f32), its
   * final hidden states per micro-batch (kd-hidden: also one block output per student block, at most k) and its chunk
   * of logits.
   */
  teacher: number;
  /**
   * At most what backward's waiting column sums hold (the weight gradients' split-K parts, the bias and LayerNorm
   * partials: ops/colsum.ts): their budget and their arena, each WAITING_SUM_BYTES.
   */
  sums: number;
  total: number;
}

/** Logit bytes the chunked head holds at once (src/tensor/ops/head.ts: 128 MiB chunks of logits and their gradient). */
const HEAD_CHUNK_BYTES = 128 * 2 ** 20;

/** Bytes, estimated (activations to within the temporaries of one block, which come and go). */
export function memoryEstimate(
  m: ModelFacts,
  s: {
    n: number;
    batch: number;
    ctx: number;
    optimizer: OptimizerKind;
    halfActivations: boolean;
    precision?: Precision;
    /** A distillation baseline's teacher: logits only (kd) or logits and hidden states (kd-hidden). */
    teacher?: 'logits' | 'hidden';
  },
): MemoryEstimate {
  const paramCount = m.otherParams + s.n * m.blockParams;
  const mixed = s.precision === 'f16-mixed';
  // f16-mixed keeps an f16 copy of every parameter beside its f32 master (Model.halfBanks).
  const params = (mixed ? 6 : 4) * paramCount;
  const grads = 4 * paramCount;
  // AdamW: two f32 moments per parameter; Muon keeps one momentum for the hidden matrices and AdamW's two for the rest.
  const optimizer = (s.optimizer === 'adamw' ? 8 : 6) * paramCount;
  // f16 activations (also f16-mixed's) halve the matmul inputs backward keeps, about half of what a block saves.
  const activations = s.batch * s.ctx * s.n * m.savedPerToken * (s.halfActivations || mixed ? 3 : 4);
  const tokens = s.batch * s.ctx;
  const chunk = Math.min(HEAD_CHUNK_BYTES, tokens * m.vocab * 4);
  // A chunk of f32 logits and their gradient; f16-mixed's tensor-core head keeps the gradient as halves and reads the
  // head matrix as an f16 copy padded to whole 64-row tiles (Model.halfHead).
  // (An odd width keeps the f32 head: Model.halfHead needs whole words per row.)
  const halfHead = mixed && m.width % 2 === 0;
  const head = halfHead ? chunk * 1.5 + 2 * Math.ceil(m.vocab / 64) * 64 * m.width : chunk * 2;
  // kd-hidden's matched states: one per student block, counted at the most blocks its student can have (k: the kd
  // students train at the grown size, which the plan does not know yet).
  const teacher = s.teacher
    ? 4 * (m.otherParams + m.layers * m.blockParams) +
      4 * tokens * m.width * (1 + (s.teacher === 'hidden' ? m.layers : 0)) +
      chunk
    : 0;
  const sums = 2 * WAITING_SUM_BYTES;
  return {
    paramCount,
    params,
    grads,
    optimizer,
    activations,
    head,
    teacher,
    sums,
    total: params + grads + optimizer + activations + head + teacher + sums,
  };
}
