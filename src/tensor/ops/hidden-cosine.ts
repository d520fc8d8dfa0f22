// kd-hidden's cosine term (DistilBERT, Sanh et al. 2019): at a matched layer, the mean over scored rows of
// scale·(1 − cos(s, t)) between the student's hidden state s and the teacher's t. It enters a training step as a side
// loss on the residual stream: the op passes s on unchanged (a view) and, in backward, adds the term's gradient for
// the seed the step's backward is given to the gradient arriving from the layers above. The loss value is a separate
// [1] tensor for the caller to report; nothing downstream of it is differentiated. The passed-on view must reach the
// loss backward starts from: the tape runs a node's rule only when its output got a gradient, so a term whose view
// leads nowhere would add nothing (in forwardDistillLoss every block output leads to the head).

import hcFwdSrc from '../../../shaders/hidden_cosine_forward.wgsl?raw';
import hcBwdSrc from '../../../shaders/hidden_cosine_backward.wgsl?raw';
import { kernel } from '../../gpu/kernel';
import type { OpAttrs } from '../opkinds';
import { tape, type GradSlot } from '../tape';
import { empty, fromArray, type Tensor } from '../tensor';
import { CE_MEAN } from './crossentropy';
import { assertF32, dispatchRows } from './launch';

const UNIFORMS = [
  ['N', 'u32'],
  ['C', 'u32'],
  ['V', 'u32'],
  ['scale', 'f32'],
] as const;
export const HIDDEN_COSINE_FORWARD = kernel({
  name: 'hidden_cosine_forward',
  source: hcFwdSrc,
  storage: ['read', 'read', 'read', 'rw'],
  uniforms: UNIFORMS,
});
export const HIDDEN_COSINE_BACKWARD = kernel({
  name: 'hidden_cosine_backward',
  source: hcBwdSrc,
  storage: ['read', 'read', 'read', 'read', 'read', 'read', 'rw'],
  uniforms: UNIFORMS,
});

/**
 * x [.., C] (the student's hidden state, N rows) and the teacher's [N, C] at the matched layer → `y`, x passed on
 * (a view; differentiate through it), and `loss` [1] = scale · mean over rows with a target in [0, V) of
 * (1 − cos(x_i, teacher_i)). `seed`: the [1] gradient the step's backward will be seeded with; the term's gradient is
 * made for it. The teacher is read in backward (the op keeps it alive); it gets no gradient. `targets`: on the host,
 * or already on the GPU (i32 [N]; a step with a term per block uploads them once).
 */
export function hiddenCosine(
  x: Tensor,
  teacher: Tensor,
  targets: Int32Array | Tensor,
  opts: { scale: number; seed: Tensor; vocab: number },
): { y: Tensor; loss: Tensor } {
  assertF32(x, 'hidden cosine: student');
  assertF32(teacher, 'hidden cosine: teacher');
  const C = x.shape[x.shape.length - 1]!;
  const N = x.size / C;
  if (teacher.size !== N * C || teacher.shape[teacher.shape.length - 1] !== C)
    throw new Error(
      `hidden cosine: the teacher's hidden state [${teacher.shape.join(', ')}] does not match the student's ${N} rows × ${C}`,
    );
  const given = targets instanceof Int32Array ? targets.length : targets.dtype === 'i32' ? targets.size : -1;
  if (given !== N) throw new Error(`hidden cosine: ${given < 0 ? 'non-i32' : given} targets for ${N} rows`);
  if (!(opts.scale >= 0 && Number.isFinite(opts.scale)))
    throw new Error(`hidden cosine: the weight must be a finite number ≥ 0, got ${opts.scale}`);
  const gpu = x.gpu;
  const V = opts.vocab;
  const tgt = targets instanceof Int32Array ? fromArray(gpu, targets, [N], 'i32') : targets.slice(0, [N]);
  const losses = empty(gpu, [N]);
  const loss = empty(gpu, [1]);
  const count = empty(gpu, [1]);
  const u = { N, C, V, scale: opts.scale };
  dispatchRows(gpu, HIDDEN_COSINE_FORWARD, [x.view, teacher.view, tgt.view, losses.view], u, N);
  gpu.dispatch(CE_MEAN, [losses.view, tgt.view, loss.view, count.view], { N, V }, [1]);
  losses.dispose();
  const y = x.reshapeView(x.shape);
  if (!tape.records([x])) {
    tgt.dispose();
    count.dispose();
    return { y, loss };
  }
  const held = teacher.slice(0, teacher.shape);
  tape.record('hiddenCosine', [x], [y], { ...u, seed: opts.seed, teacher: held, tgt, count }, [held, tgt, count]);
  return { y, loss };
}

/** dx = dy + the cosine term's gradient for the seed its forward was given (hidden_cosine_backward.wgsl). */
export function hiddenCosineBackward(x: Tensor, g: Tensor, dxSlot: GradSlot, a: OpAttrs['hiddenCosine']): void {
  const { t, accumulate } = dxSlot.out();
  const { N, C, V, scale } = a;
  dispatchRows(
    x.gpu,
    HIDDEN_COSINE_BACKWARD,
    [x.view, a.teacher.view, a.tgt.view, a.count.view, a.seed.view, g.view, t.view],
    { N, C, V, scale },
    N,
    { ACCUMULATE: accumulate },
  );
}
