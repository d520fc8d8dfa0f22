// Deterministic column sums (out[n] (+)= Σ_r x[r, n]: the bias gradient of a matmul, the sum of split-K parts,
// LayerNorm's parameter gradients) as a two-stage reduction: per (256-row chunk, 64-column tile) partials into a pooled
// [chunks, N] scratch, then column sums of the partials. Independent jobs share dispatches, four per dispatch (one
// dispatch runs one stage of each), so LayerNorm's weight and bias gradients, or a split-K weight gradient and its
// bias gradient, cost the dispatches of one. Inside backward, a parameter gradient's last stage, which reads only
// scratch of ours, waits for the end of the pass (flushColsums), where the waiting stages go four to a dispatch.

import src from '../../../shaders/colsum.wgsl?raw';
import type { BufferView, Gpu } from '../../gpu/runtime';
import { type KernelSpec, grid2d } from '../../gpu/kernel';
import { empty, type Tensor } from '../tensor';

export const COLSUM: KernelSpec = {
  name: 'colsum',
  source: src,
  storage: ['read', 'rw', 'read', 'rw', 'read', 'rw', 'read', 'rw'],
  uniforms: [
    ['R0', 'u32'],
    ['N0', 'u32'],
    ['R1', 'u32'],
    ['N1', 'u32'],
    ['R2', 'u32'],
    ['N2', 'u32'],
    ['R3', 'u32'],
    ['N3', 'u32'],
  ],
};

/** Jobs one colsum dispatch runs (its eight storage bindings: WebGPU's guaranteed maxStorageBuffersPerShaderStage). */
export const COLSUM_JOBS = 4;

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

/** One column sum: out[n] = Σ_r x[r, n] over row-major x [R, N], or out[n] += it with `accumulate`. */
export interface ColsumJob {
  x: BufferView;
  out: BufferView;
  R: number;
  N: number;
  accumulate: boolean;
  /**
   * out is a parameter's gradient (a leaf's), which nothing reads before backward ends: inside a backward pass the
   * job's last stage may wait for its end (flushColsums), when the waiting stages go four to a dispatch. Only a stage
   * that reads scratch of ours waits (a partial, or `handOver`), never one that reads a caller's buffer.
   */
  parameter?: boolean;
  /** x is this scratch, handed over: freed once the job has read it. */
  handOver?: Tensor;
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

const R_KEYS = ['R0', 'R1', 'R2', 'R3'];
const N_KEYS = ['N0', 'N1', 'N2', 'N3'];
const MODE_KEYS = ['MODE0', 'MODE1', 'MODE2', 'MODE3'];

/** One dispatch of up to COLSUM_JOBS stages (absent ones bind dummies and have no rows). */
function dispatchStages(gpu: Gpu, stages: readonly Stage[]): void {
  if (stages.length === 0 || stages.length > COLSUM_JOBS)
    throw new Error(`colsum: ${stages.length} jobs in a dispatch`);
  const views: BufferView[] = [];
  const uniforms: Record<string, number> = {};
  const modes: Record<string, number> = {};
  let work = 0;
  for (let j = 0; j < COLSUM_JOBS; j++) {
    const s = stages[j];
    views.push(s ? s.x : gpu.dummy, s ? s.out : gpu.dummyOut(j));
    uniforms[R_KEYS[j]!] = s ? s.R : 0;
    uniforms[N_KEYS[j]!] = s ? s.N : 0;
    modes[MODE_KEYS[j]!] = s ? s.mode : MODE_ADD;
    if (s) work += colsumWork(s.R, s.N);
  }
  gpu.dispatch(COLSUM, views, uniforms, grid2d(work, gpu.maxGridX), modes);
}

/** Last stages waiting for the end of the backward pass open on a device, and the scratch they read. */
const waiting = new WeakMap<Gpu, { stages: Stage[]; scratch: Tensor[] }>();

/**
 * Records the jobs' column sums, each summed in a fixed order (the same bits whether it runs alone or beside another).
 * Jobs must be independent: none may read what another writes. Each stage of the jobs is dispatched four jobs at a
 * time; a parameter job's last stage may wait for the end of backward (ColsumJob.parameter).
 */
export function launchColsums(gpu: Gpu, jobs: readonly ColsumJob[]): void {
  const queue = waiting.get(gpu);
  const scratch: Tensor[] = [];
  let pending = jobs.filter((j) => j.R > 0 && j.N > 0).map((j) => ({ ...j, ours: j.handOver ?? null }));
  for (const j of jobs) if (j.handOver && !(j.R > 0 && j.N > 0)) scratch.push(j.handOver);
  while (pending.length > 0) {
    const stages: Stage[] = [];
    const next: typeof pending = [];
    for (const j of pending) {
      const chunks = colsumChunks(j.R);
      if (chunks === 1) {
        const last = { x: j.x, out: j.out, R: j.R, N: j.N, mode: j.accumulate ? MODE_ADD : MODE_WRITE };
        if (queue && j.parameter && j.ours) {
          queue.stages.push(last);
          queue.scratch.push(j.ours);
        } else {
          stages.push(last);
          if (j.ours) scratch.push(j.ours);
        }
        continue;
      }
      // More than 256 chunks take a third stage (still a fixed order).
      const partial = empty(gpu, [chunks, j.N]);
      if (j.ours) scratch.push(j.ours);
      stages.push({ x: j.x, out: partial.view, R: j.R, N: j.N, mode: MODE_PARTIAL });
      next.push({ ...j, x: partial.view, R: chunks, ours: partial });
    }
    for (let i = 0; i < stages.length; i += COLSUM_JOBS) dispatchStages(gpu, stages.slice(i, i + COLSUM_JOBS));
    pending = next;
  }
  for (const t of scratch) t.dispose();
}

/** Opens a backward pass on this device: parameter jobs' last stages wait for flushColsums from now on. */
export function openColsums(gpu: Gpu): void {
  if (!waiting.has(gpu)) waiting.set(gpu, { stages: [], scratch: [] });
}

const overlap = (a: BufferView, b: BufferView) =>
  a.buffer === b.buffer && a.offset < b.offset + b.size && b.offset < a.offset + a.size;

/**
 * Ends the backward pass: dispatches the waiting stages four to a dispatch (two that add into the same gradient never
 * share one) and frees their scratch. With `drop` (a pass that failed part way) dispatches nothing.
 */
export function flushColsums(gpu: Gpu, drop = false): void {
  const queue = waiting.get(gpu);
  if (!queue) return;
  waiting.delete(gpu);
  try {
    const left = drop ? [] : [...queue.stages];
    while (left.length > 0) {
      // In queue order, up to COLSUM_JOBS stages whose outputs do not overlap (two adding into one gradient race).
      const group = [left.shift()!];
      for (let k = 0; k < left.length && group.length < COLSUM_JOBS; )
        if (group.every((s) => !overlap(s.out, left[k]!.out))) group.push(left.splice(k, 1)[0]!);
        else k++;
      dispatchStages(gpu, group);
    }
  } finally {
    for (const t of queue.scratch) t.dispose();
  }
}
