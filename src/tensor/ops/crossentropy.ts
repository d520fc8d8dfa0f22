// Fused softmax + cross-entropy with an ignore index (any target < 0), mean over the rows that count.

import fwdSrc from '../../../shaders/crossentropy_forward.wgsl?raw';
import meanSrc from '../../../shaders/crossentropy_mean.wgsl?raw';
import bwdSrc from '../../../shaders/crossentropy_backward.wgsl?raw';
import scoresSrc from '../../../shaders/token_scores.wgsl?raw';
import distillSrc from '../../../shaders/distill_head.wgsl?raw';
import seededSrc from '../../../shaders/crossentropy_seeded.wgsl?raw';
import { kernel } from '../../gpu/kernel';
import { tape } from '../tape';
import { empty, fromArray, type Tensor } from '../tensor';
import { assertF32, dispatchRows } from './launch';

/** PyTorch's default ignore_index; any negative target is ignored. */
export const IGNORE_INDEX = -100;

const NV = [
  ['N', 'u32'],
  ['V', 'u32'],
] as const;
export const CE_FORWARD = kernel({
  name: 'crossentropy_forward',
  source: fwdSrc,
  storage: ['read', 'read', 'rw', 'rw'],
  uniforms: NV,
});
export const CE_MEAN = kernel({
  name: 'crossentropy_mean',
  source: meanSrc,
  storage: ['read', 'read', 'rw', 'rw'],
  uniforms: NV,
});
/** Per row: the target's log-probability and whether it is the argmax (evaluation: downstream scores). */
export const TOKEN_SCORES = kernel({
  name: 'token_scores',
  source: scoresSrc,
  storage: ['read', 'read', 'rw', 'rw'],
  uniforms: NV,
});
/** Logit distillation's row losses and dlogits from student and teacher logits (the seeded training head). */
export const DISTILL_HEAD = kernel({
  name: 'distill_head',
  source: distillSrc,
  storage: ['read', 'read', 'read', 'read', 'read', 'rw', 'rw'],
  uniforms: [...NV, ['alpha', 'f32'], ['tau', 'f32']],
});
/**
 * The seeded head's row losses, lse and dlogits in one pass (crossentropy_forward and _backward's values); rows
 * `stride` apart in logits and dlogits.
 */
export const CE_SEEDED = kernel({
  name: 'crossentropy_seeded',
  source: seededSrc,
  storage: ['read', 'read', 'read', 'read', 'rw', 'rw', 'rw'],
  uniforms: [...NV, ['stride', 'u32']],
});
const CE_OUT = /^\/\/#include ce_out_f32$/m;
if (!CE_OUT.test(seededSrc)) throw new Error('crossentropy_seeded.wgsl has no "//#include ce_out_f32" line to swap');
/** The same writing dlogits as halves (an even stride; the columns from V to the stride as zeros). */
export const CE_SEEDED_HALF = kernel({
  ...CE_SEEDED,
  name: 'crossentropy_seeded_f16',
  source: seededSrc.replace(CE_OUT, '//#include ce_out_f16'),
});
export const CE_BACKWARD = kernel({
  name: 'crossentropy_backward',
  source: bwdSrc,
  storage: ['read', 'read', 'read', 'read', 'read', 'rw'],
  uniforms: NV,
});

/**
 * logits [..., V] and targets (i32 tensor or host array, one per row) → scalar mean loss [1].
 * Host targets are validated: each must be in [0, V) or negative (ignored).
 */
export function crossEntropy(logits: Tensor, targets: Tensor | Int32Array): Tensor {
  assertF32(logits, 'crossEntropy logits');
  const V = logits.shape[logits.shape.length - 1]!;
  const N = logits.size / V;
  const gpu = logits.gpu;
  let tgt: Tensor;
  let ownTargets = false;
  if (targets instanceof Int32Array) {
    if (targets.length !== N) throw new Error(`crossEntropy: ${targets.length} targets for ${N} rows`);
    const bad = targets.findIndex((t) => t >= V);
    if (bad >= 0)
      throw new Error(`crossEntropy: target ${targets[bad]} at row ${bad} is outside the vocabulary of ${V}`);
    tgt = fromArray(gpu, targets, [N], 'i32');
    ownTargets = true;
  } else {
    if (targets.dtype !== 'i32' || targets.size !== N) throw new Error(`crossEntropy: targets must be ${N} i32 values`);
    tgt = targets;
  }
  const losses = empty(gpu, [N]);
  const lse = empty(gpu, [N]);
  const loss = empty(gpu, [1]);
  const count = empty(gpu, [1]);
  dispatchRows(gpu, CE_FORWARD, [logits.view, tgt.view, losses.view, lse.view], { N, V }, N);
  gpu.dispatch(CE_MEAN, [losses.view, tgt.view, loss.view, count.view], { N, V }, [1]);
  losses.dispose();
  tape.record('crossEntropy', [logits, tgt], [loss], { N, V, lse, count }, [lse, count]);
  if (ownTargets) tgt.dispose();
  return loss;
}

/** dlogits (+)= gLoss · (softmax − onehot) / count: added with accumulate, else written over every element. */
export function crossEntropyBackward(
  logits: Tensor,
  targets: Tensor,
  lse: Tensor,
  count: Tensor,
  gLoss: Tensor,
  dlogits: { t: Tensor; accumulate: boolean },
  N: number,
  V: number,
): void {
  dispatchRows(
    logits.gpu,
    CE_BACKWARD,
    [logits.view, targets.view, lse.view, count.view, gLoss.view, dlogits.t.view],
    { N, V },
    N,
    { ACCUMULATE: dlogits.accumulate },
  );
}
