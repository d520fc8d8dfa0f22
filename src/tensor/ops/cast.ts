// Half-precision storage: toHalf rounds an f32 tensor to an f16 one (half the bytes). Used where a matmul's input is
// also what backward keeps of it (half-precision activations), so the f32 original can be freed at once.

import toHalfSrc from '../../../shaders/to_half.wgsl?raw';
import { kernel } from '../../gpu/kernel';
import type { BufferView, Gpu } from '../../gpu/runtime';
import { tape } from '../tape';
import { empty, type Tensor } from '../tensor';
import { assertF32, dispatchElements } from './launch';

export const TO_HALF = kernel({
  name: 'to_half',
  source: toHalfSrc,
  storage: ['read', 'rw'],
  uniforms: [['n', 'u32']],
});

/** n f32 values of x rounded into the halves of y (not recorded: for backward rules and the optimizer). */
export function launchToHalf(gpu: Gpu, x: BufferView, y: BufferView, n: number): void {
  dispatchElements(gpu, TO_HALF, [x, y], { n }, Math.ceil(n / 2));
}

/**
 * x rounded to halves (ties to even; past ±65504 → ±infinity, so an overflow trips the step guard rather than hiding).
 * Its gradient passes through unchanged (rounding is treated as the identity, as mixed-precision training does).
 */
export function toHalf(x: Tensor): Tensor {
  assertF32(x, 'toHalf');
  const y = empty(x.gpu, x.shape, 'f16');
  launchToHalf(x.gpu, x.view, y.view, x.size);
  tape.record('toHalf', [x], [y], {});
  return y;
}

/**
 * `full` rounded by toHalf, with the caller's f32 handle disposed: for an op asked for an f16 output that its kernel
 * cannot write as halves (an odd width), so the f32 original lives no longer than the rounding (toHalf's backward
 * keeps nothing of it).
 */
export function toHalfReleasing(full: Tensor): Tensor {
  const y = toHalf(full);
  full.dispose();
  return y;
}
