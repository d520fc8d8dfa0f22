// Deterministic column sums (out[n] += Σ_r x[r, n]: the bias gradient of a matmul) as a two-stage reduction: per
// (256-row chunk, 64-column tile) partials into a pooled [chunks, N] scratch, then column sums of the partials.

import src from '../../../shaders/colsum.wgsl?raw';
import type { BufferView, Gpu } from '../../gpu/runtime';
import { type KernelSpec, grid2d } from '../../gpu/kernel';
import { empty } from '../tensor';

export const COLSUM: KernelSpec = {
  name: 'colsum',
  source: src,
  storage: ['read', 'rw'],
  uniforms: [
    ['R', 'u32'],
    ['N', 'u32'],
  ],
};

/** Columns per workgroup tile and rows per chunk (they match the TILE and CHUNK constants of the shaders). */
export const COLSUM_TILE = 64;
export const COLSUM_CHUNK = 256;

/** Row chunks of a column reduction over R rows: the row count of its partials scratch. */
export function colsumChunks(R: number): number {
  return Math.ceil(R / COLSUM_CHUNK);
}

/** The folded grid of one stage over [R, N]: one workgroup per (column tile, row chunk). */
export function colsumGrid(gpu: Gpu, R: number, N: number): [number, number] {
  return grid2d(Math.ceil(N / COLSUM_TILE) * colsumChunks(R), gpu.maxGridX);
}

/** out[n] += Σ_r x[r, n] over row-major x [R, N], summed in a fixed order; without accumulate, out[n] = the sum (out not read). */
export function launchColsum(gpu: Gpu, x: BufferView, out: BufferView, R: number, N: number, accumulate = true): void {
  if (R === 0 || N === 0) return;
  const chunks = colsumChunks(R);
  if (chunks === 1) {
    gpu.dispatch(COLSUM, [x, out], { R, N }, colsumGrid(gpu, R, N), { PARTIAL: false, ACCUMULATE: accumulate });
    return;
  }
  const partial = empty(gpu, [chunks, N]);
  gpu.dispatch(COLSUM, [x, partial.view], { R, N }, colsumGrid(gpu, R, N), { PARTIAL: true });
  launchColsum(gpu, partial.view, out, chunks, N, accumulate); // more than 256 chunks recurse: still a fixed order
  partial.dispose();
}
