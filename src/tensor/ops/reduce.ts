// Deterministic reductions: full sum (differentiable), sum of squares and the global L2 norm over many tensors
// (gradient clipping, Newton–Schulz normalisation), all kept on the GPU.

import src from '../../../shaders/reduce_sum.wgsl?raw';
import bcastSrc from '../../../shaders/broadcast_accumulate.wgsl?raw';
import { kernel } from '../../gpu/kernel';
import { grid2d } from '../../gpu/kernel';
import type { BufferView, Gpu } from '../../gpu/runtime';
import { tape } from '../tape';
import { empty, type Tensor } from '../tensor';
import { assertF32, dispatchElements } from './launch';

export const REDUCE_SUM = kernel({
  name: 'reduce_sum',
  source: src,
  storage: ['read', 'rw'],
  uniforms: [
    ['n', 'u32'],
    ['chunk', 'u32'],
    ['outOffset', 'u32'],
  ],
});
export const BROADCAST_ACCUMULATE = kernel({
  name: 'broadcast_accumulate',
  source: bcastSrc,
  storage: ['read', 'rw'],
  uniforms: [
    ['n', 'u32'],
    ['scale', 'f32'],
  ],
});

/** Elements one workgroup reduces per pass. */
const CHUNK = 4096;

/**
 * Reduces the given views (Σx, or Σx² with square) into out[0], in a fixed order: one partial per CHUNK elements,
 * then passes over the partials. With sqrt, out[0] = √(total).
 */
export function launchReduce(
  gpu: Gpu,
  inputs: { view: BufferView; n: number }[],
  out: BufferView,
  opts: { square?: boolean; sqrt?: boolean } = {},
): void {
  const parts = inputs.map((x) => Math.ceil(x.n / CHUNK));
  let total = parts.reduce((a, b) => a + b, 0);
  if (total === 1 && inputs.length === 1) {
    gpu.dispatch(REDUCE_SUM, [inputs[0]!.view, out], { n: inputs[0]!.n, chunk: CHUNK, outOffset: 0 }, [1], {
      SQUARE: !!opts.square,
      SQRT: !!opts.sqrt,
    });
    return;
  }
  let partial = empty(gpu, [total]);
  let offset = 0;
  inputs.forEach((x, i) => {
    gpu.dispatch(
      REDUCE_SUM,
      [x.view, partial.view],
      { n: x.n, chunk: CHUNK, outOffset: offset },
      grid2d(parts[i]!, gpu.maxGridX),
      { SQUARE: !!opts.square, SQRT: false },
    );
    offset += parts[i]!;
  });
  while (total > 1) {
    const next = Math.ceil(total / CHUNK);
    const last = next === 1;
    const dst = last ? null : empty(gpu, [next]);
    gpu.dispatch(
      REDUCE_SUM,
      [partial.view, dst?.view ?? out],
      { n: total, chunk: CHUNK, outOffset: 0 },
      grid2d(next, gpu.maxGridX),
      { SQUARE: false, SQRT: last && !!opts.sqrt },
    );
    partial.dispose();
    if (!dst) return;
    partial = dst;
    total = next;
  }
}

/** Σ of all elements → [1]. */
export function sum(x: Tensor): Tensor {
  assertF32(x, 'sum');
  const y = empty(x.gpu, [1]);
  launchReduce(x.gpu, [{ view: x.view, n: x.size }], y.view);
  tape.record('sum', [x], [y], { n: x.size });
  return y;
}

/** √(Σ over all tensors of Σx²) → [1], never leaving the GPU (not differentiable). */
export function globalNorm(xs: Tensor[]): Tensor {
  if (!xs.length) throw new Error('globalNorm of no tensors');
  const y = empty(xs[0]!.gpu, [1]);
  launchReduce(
    y.gpu,
    xs.map((x) => ({ view: x.view, n: x.size })),
    y.view,
    { square: true, sqrt: true },
  );
  return y;
}

/** dx[i] += scale · g[0]. */
export function launchBroadcastAccumulate(gpu: Gpu, g: BufferView, dx: BufferView, n: number, scale = 1): void {
  dispatchElements(gpu, BROADCAST_ACCUMULATE, [g, dx], { n, scale }, n);
}
