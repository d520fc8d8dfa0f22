// Self-check of the attention-rank analysis kernel: attention_probs (fed by attention_forward's log-sum-exp) against
// the f64 softmax(QKᵀ/√D), causal, averaged over the batch; odd shapes and a folded 2-D grid.

import { Rng } from '../util/rng';
import { fromArray, tidyAsync } from '../tensor';
import { attentionWithProbs } from '../tensor/ops/attention-probs';
import { attentionRef } from '../reference/nn';
import { meanProbsRef } from '../reference/attention-probs';
import { f32 } from './compare';
import type { Check, CheckContext } from './harness';
import { TOL_REDUCE } from './support';

async function probsCase(
  { gpu, expect }: CheckContext,
  rng: Rng,
  B: number,
  T: number,
  H: number,
  D: number,
  tag = '',
  KV = H,
): Promise<void> {
  await tidyAsync(async () => {
    const W = (H + 2 * KV) * D;
    // Scale 2 spreads the scores (up to ~10 after 1/√D) so some rows are peaked, others flat.
    const QKV = f32(rng.normals(B * T * W, 2));
    const { out, probs } = attentionWithProbs(fromArray(gpu, QKV, [B, T, W]), H, KV);
    const ref = attentionRef(QKV, B, T, H, D, KV);
    const shape = `B=${B} T=${T} H=${H} KV=${KV} D=${D}${tag}`;
    expect(`batch-mean probs [H,T,T] ${shape}`, await probs.readF32(), meanProbsRef(ref.probs, B, H, T), TOL_REDUCE);
    expect(`attention output ${shape}`, await out.readF32(), ref.out, TOL_REDUCE);
  });
}

const attentionProbsCheck: Check = {
  name: 'attention probabilities (rank analysis)',
  kernels: ['attention_forward', 'attention_probs'],
  async run(ctx) {
    const rng = new Rng(31);
    for (const [B, T, H, D] of [
      [1, 1, 1, 1],
      [3, 7, 2, 5],
      [3, 33, 2, 5],
      [2, 70, 1, 8],
    ] as const)
      await probsCase(ctx, rng, B, T, H, D);
    // 3·40·40 = 4800 elements = 19 workgroups of 256 on a grid folded at 7: 7×3 = 21, two surplus workgroups.
    const saved = ctx.gpu.maxGridX;
    ctx.gpu.maxGridX = 7;
    try {
      await probsCase(ctx, rng, 2, 40, 3, 4, ', grid folded at x=7');
    } finally {
      ctx.gpu.maxGridX = saved;
    }
    // Grouped key/value heads: each query head's probabilities, two query heads per key head.
    await probsCase(ctx, rng, 2, 13, 4, 32, ', grouped', 2);
  },
};

export const analysisChecks: Check[] = [attentionProbsCheck];
