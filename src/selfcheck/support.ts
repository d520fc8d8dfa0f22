// What the op self-checks share: tolerances, trainable tensors from f64 data, and reading a gradient back.

import type { Gpu } from '../gpu/runtime';
import { fromArray, type Tensor } from '../tensor';
import type { Tolerance } from './compare';
import type { Check } from './harness';

/** What a check's run receives. */
export type Ctx = Parameters<Check['run']>[0];

export const TOL_EXACT: Tolerance = { atol: 1e-6, rtol: 1e-6 };
export const TOL_ELEMENTWISE: Tolerance = { atol: 1e-6, rtol: 1e-5 };
export const TOL_REDUCE: Tolerance = { atol: 1e-5, rtol: 1e-4 };

/** A trainable GPU tensor holding f32-rounded copies of `x`. */
export function param(gpu: Gpu, x: Float64Array, shape: number[]): Tensor {
  const t = fromArray(gpu, x, shape);
  t.requiresGrad = true;
  return t;
}

export async function grad(t: Tensor): Promise<Float32Array> {
  if (!t.grad) throw new Error(`tensor [${t.shape.join(', ')}] got no gradient`);
  return t.grad.readF32();
}
