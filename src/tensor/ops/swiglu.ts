// SwiGLU's gate for the Llama family's MLP: y = silu(g)·u elementwise, g and u the gate and up projections.

import fwdSrc from '../../../shaders/swiglu_forward.wgsl?raw';
import bwdSrc from '../../../shaders/swiglu_backward.wgsl?raw';
import { kernel } from '../../gpu/kernel';
import type { Gpu, BufferView } from '../../gpu/runtime';
import { tape } from '../tape';
import { empty, type Tensor } from '../tensor';
import { assertF32, assertSameShape, dispatchElements } from './launch';

export const SWIGLU_FORWARD = kernel({
  name: 'swiglu_forward',
  source: fwdSrc,
  storage: ['read', 'read', 'rw'],
  uniforms: [['n', 'u32']],
});
export const SWIGLU_BACKWARD = kernel({
  name: 'swiglu_backward',
  source: bwdSrc,
  storage: ['read', 'read', 'read', 'rw', 'rw'],
  uniforms: [['n', 'u32']],
});

/** g, u [..., I] → silu(g)·u (recorded). */
export function swiglu(g: Tensor, u: Tensor): Tensor {
  assertF32(g, 'swiglu gate');
  assertF32(u, 'swiglu up');
  assertSameShape(g, u, 'swiglu');
  const y = empty(g.gpu, g.shape);
  dispatchElements(g.gpu, SWIGLU_FORWARD, [g.view, u.view, y.view], { n: g.size }, g.size);
  tape.record('swiglu', [g, u], [y], {});
  return y;
}

/**
 * dg and du for dy, each added to or written over (accumulate false: its first gradient). A missing one goes to a
 * scratch buffer (the kernel writes both).
 */
export function swigluBackward(
  gpu: Gpu,
  g: BufferView,
  u: BufferView,
  dy: BufferView,
  dg: { t: Tensor; accumulate: boolean } | null,
  du: { t: Tensor; accumulate: boolean } | null,
  n: number,
): void {
  if (!dg && !du) return;
  const scratch = !dg || !du ? empty(gpu, [n]) : null;
  dispatchElements(gpu, SWIGLU_BACKWARD, [g, u, dy, (dg?.t ?? scratch!).view, (du?.t ?? scratch!).view], { n }, n, {
    ACC_G: dg?.accumulate ?? false,
    ACC_U: du?.accumulate ?? false,
  });
  scratch?.dispose();
}
