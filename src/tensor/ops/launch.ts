// Small helpers shared by op launchers: 1-D grids and shape checks.

import type { Gpu, BufferView } from '../../gpu/runtime';
import { type Constants, type KernelSpec, grid2d } from '../../gpu/kernel';
import type { Tensor } from '../tensor';

/** Dispatches one thread per element (workgroups of `wg`), the grid folded into 2-D past 65535 workgroups. */
export function dispatchElements(
  gpu: Gpu,
  spec: KernelSpec,
  views: BufferView[],
  uniforms: Record<string, number>,
  n: number,
  constants?: Constants,
  wg = 256,
): void {
  gpu.dispatch(spec, views, uniforms, grid2d(Math.ceil(n / wg), gpu.maxGridX), constants);
}

/** Dispatches one workgroup per row. */
export function dispatchRows(
  gpu: Gpu,
  spec: KernelSpec,
  views: BufferView[],
  uniforms: Record<string, number>,
  rows: number,
  constants?: Constants,
  flops?: number,
): void {
  gpu.dispatch(spec, views, uniforms, grid2d(rows, gpu.maxGridX), constants, flops);
}

export function assertShape(t: Tensor, shape: readonly number[], what: string): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${what}: expected shape [${shape.join(', ')}], got [${t.shape.join(', ')}]`);
  }
}

export function assertSameShape(a: Tensor, b: Tensor, what: string): void {
  assertShape(b, a.shape, what);
}

export function assertF32(t: Tensor, what: string): void {
  if (t.dtype !== 'f32') throw new Error(`${what}: expected an f32 tensor`);
}
