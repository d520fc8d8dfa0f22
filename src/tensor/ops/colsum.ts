// Deterministic column sums (out[n] (+)= Σ_r x[r, n]: the bias gradient of a matmul, the sum of split-K parts,
// LayerNorm's parameter gradients) as a two-stage reduction: per (256-row chunk, 64-column tile) partials into a pooled
// [chunks, N] scratch, then column sums of the partials. Independent jobs share dispatches, two per dispatch (one
// dispatch runs one stage of each), so LayerNorm's weight and bias gradients, or a split-K weight gradient and its
// bias gradient, cost the dispatches of one.

import src from '../../../shaders/colsum.wgsl?raw';
import type { BufferView, Gpu } from '../../gpu/runtime';
import { type KernelSpec, grid2d } from '../../gpu/kernel';
import { empty, type Tensor } from '../tensor';

export const COLSUM: KernelSpec = {
  name: 'colsum',
  source: src,
  storage: ['read', 'rw', 'read', 'rw'],
  uniforms: [
    ['R', 'u32'],
    ['N', 'u32'],
    ['R1', 'u32'],
    ['N1', 'u32'],
  ],
};

/** Columns per workgroup tile and rows per chunk (they match the TILE and CHUNK constants of the shaders). */
export const COLSUM_TILE = 64;
export const COLSUM_CHUNK = 256;

/** Row chunks of a column reduction over R rows: the row count of its partials scratch. */
export function colsumChunks(R: number): number {
  return Math.ceil(R / COLSUM_CHUNK);
}

/** Workgroups of one stage over [R, N]: one per (column tile, row chunk). */
function colsumWork(R: number, N: number): number {
  return Math.ceil(N / COLSUM_TILE) * colsumChunks(R);
}

/** The folded grid of one stage over [R, N]: one workgroup per (column tile, row chunk). */
export function colsumGrid(gpu: Gpu, R: number, N: number): [number, number] {
  return grid2d(colsumWork(R, N), gpu.maxGridX);
}

/** One column sum: out[n] = Σ_r x[r, n] over row-major x [R, N], or out[n] += it with `accumulate`. */
export interface ColsumJob {
  x: BufferView;
  out: BufferView;
  R: number;
  N: number;
  accumulate: boolean;
}

const MODE_PARTIAL = 0;
const MODE_WRITE = 1;
const MODE_ADD = 2;

interface Stage {
  x: BufferView;
  out: BufferView;
  R: number;
  N: number;
  mode: number;
}

function dispatchStages(gpu: Gpu, a: Stage, b: Stage | undefined): void {
  const work = colsumWork(a.R, a.N) + (b ? colsumWork(b.R, b.N) : 0);
  gpu.dispatch(
    COLSUM,
    [a.x, a.out, b ? b.x : gpu.dummy, b ? b.out : gpu.dummyOut],
    { R: a.R, N: a.N, R1: b ? b.R : 0, N1: b ? b.N : 0 },
    grid2d(work, gpu.maxGridX),
    { MODE0: a.mode, MODE1: b ? b.mode : MODE_ADD },
  );
}

/**
 * Records the jobs' column sums, each summed in a fixed order (the same bits whether it runs alone or beside another).
 * Jobs must be independent: none may read what another writes. Each stage of the jobs is dispatched two jobs at a time.
 */
export function launchColsums(gpu: Gpu, jobs: readonly ColsumJob[]): void {
  let pending = jobs.filter((j) => j.R > 0 && j.N > 0).map((j) => ({ ...j }));
  const scratch: Tensor[] = [];
  while (pending.length > 0) {
    const stages: Stage[] = [];
    const next: typeof pending = [];
    for (const j of pending) {
      const chunks = colsumChunks(j.R);
      if (chunks === 1) {
        stages.push({ x: j.x, out: j.out, R: j.R, N: j.N, mode: j.accumulate ? MODE_ADD : MODE_WRITE });
        continue;
      }
      // More than 256 chunks take a third stage (still a fixed order).
      const partial = empty(gpu, [chunks, j.N]);
      scratch.push(partial);
      stages.push({ x: j.x, out: partial.view, R: j.R, N: j.N, mode: MODE_PARTIAL });
      next.push({ ...j, x: partial.view, R: chunks });
    }
    for (let i = 0; i < stages.length; i += 2) dispatchStages(gpu, stages[i]!, stages[i + 1]);
    pending = next;
  }
  for (const t of scratch) t.dispose();
}

/** out[n] += Σ_r x[r, n] over row-major x [R, N], summed in a fixed order; without accumulate, out[n] = the sum (out not read). */
export function launchColsum(gpu: Gpu, x: BufferView, out: BufferView, R: number, N: number, accumulate = true): void {
  launchColsums(gpu, [{ x, out, R, N, accumulate }]);
}
