// 2-D transpose (Muon works on the transpose of tall matrices); differentiable.

import src from '../../../shaders/transpose.wgsl?raw';
import { kernel } from '../../gpu/kernel';
import type { BufferView, Gpu } from '../../gpu/runtime';
import { tape } from '../tape';
import { empty, type Tensor } from '../tensor';
import { assertF32 } from './launch';

export const TRANSPOSE = kernel({
  name: 'transpose',
  source: src,
  storage: ['read', 'rw'],
  uniforms: [
    ['R', 'u32'],
    ['C', 'u32'],
  ],
});

/** y = xᵀ (or y += xᵀ with accumulate) for x [R, C]. */
export function launchTranspose(
  gpu: Gpu,
  x: BufferView,
  y: BufferView,
  R: number,
  C: number,
  accumulate = false,
): void {
  gpu.dispatch(TRANSPOSE, [x, y], { R, C }, [Math.ceil(C / 16), Math.ceil(R / 16)], { ACCUMULATE: accumulate });
}

export function transpose(x: Tensor): Tensor {
  assertF32(x, 'transpose');
  if (x.shape.length !== 2) throw new Error(`transpose expects a 2-D tensor, got [${x.shape.join(', ')}]`);
  const [R, C] = x.shape as [number, number];
  const y = empty(x.gpu, [C, R]);
  launchTranspose(x.gpu, x.view, y.view, R, C);
  tape.record('transpose', [x], [y], { R, C });
  return y;
}
