// One Gpu per test worker, on the real WebGPU adapter (SwiftShader in CI). Throws, never skips, without one.

import { acquireNodeDevice } from '../../src/gpu/node';
import { Gpu } from '../../src/gpu/runtime';
import type { Tensor } from '../../src/tensor/tensor';

let gpu: Promise<Gpu> | null = null;

export function getGpu(): Promise<Gpu> {
  gpu ??= acquireNodeDevice().then((a) => new Gpu(a));
  return gpu;
}

/** A tensor made a leaf that takes gradients (a parameter). */
export function leaf(t: Tensor): Tensor {
  t.requiresGrad = true;
  return t;
}
