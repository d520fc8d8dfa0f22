// Matmul op: C = alpha·op(A)·op(B) + bias, 2-D or batched, any transpose combination; its launcher is also used by
// the backward rules and by Muon's Newton–Schulz iteration.

import src from '../../../shaders/matmul.wgsl?raw';
import colsumSrc from '../../../shaders/colsum.wgsl?raw';
import type { BufferView, Gpu } from '../../gpu/runtime';
import type { KernelSpec } from '../../gpu/kernel';
import { tape } from '../tape';
import { empty, type Tensor } from '../tensor';
import { assertF32, dispatchElements } from './launch';

export const MATMUL: KernelSpec = {
  name: 'matmul',
  source: src,
  storage: ['read', 'read', 'read', 'rw'],
  uniforms: [['M', 'u32'], ['N', 'u32'], ['K', 'u32'], ['strideA', 'u32'], ['strideB', 'u32'], ['strideC', 'u32'], ['alpha', 'f32'], ['beta', 'f32']],
};
export const COLSUM: KernelSpec = { name: 'colsum', source: colsumSrc, storage: ['read', 'rw'], uniforms: [['R', 'u32'], ['N', 'u32']] };

export interface MatmulArgs {
  a: BufferView;
  b: BufferView;
  c: BufferView;
  bias?: BufferView | null;
  M: number;
  N: number;
  K: number;
  batch?: number;
  /** Elements between batch entries; 0 broadcasts that operand. Default: dense. */
  strideA?: number;
  strideB?: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  /** 0 overwrites C; 1 accumulates into it. */
  beta?: number;
}

/** Records C[b] = alpha·op(A[b])·op(B[b]) + bias + beta·C[b] over raw views. */
export function launchMatmul(gpu: Gpu, x: MatmulArgs): void {
  const batch = x.batch ?? 1;
  const tile = 64;
  gpu.dispatch(
    MATMUL,
    [x.a, x.b, x.bias ?? gpu.dummy, x.c],
    {
      M: x.M, N: x.N, K: x.K,
      strideA: x.strideA ?? x.M * x.K, strideB: x.strideB ?? x.K * x.N, strideC: x.M * x.N,
      alpha: x.alpha ?? 1, beta: x.beta ?? 0,
    },
    [Math.ceil(x.N / tile), Math.ceil(x.M / tile), batch],
    { TRANS_A: !!x.transA, TRANS_B: !!x.transB, HAS_BIAS: !!x.bias },
  );
}

/** out[n] += Σ_r x[r, n]. */
export function launchColsum(gpu: Gpu, x: BufferView, out: BufferView, R: number, N: number): void {
  dispatchElements(gpu, COLSUM, [x, out], { R, N }, N);
}

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  bias?: Tensor | null;
  alpha?: number;
}

/**
 * op(A)·op(B) (+ bias). Shapes: A [..., M, K] (or [..., K, M] with transA), B [K, N] (or [N, K] with transB), or B
 * with the same leading batch dims as A. A 2-D B with untransposed A folds A's leading dims into M (a linear layer).
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const { transA = false, transB = false, bias = null, alpha = 1 } = opts;
  assertF32(a, 'matmul A');
  assertF32(b, 'matmul B');
  if (a.shape.length < 2 || b.shape.length < 2) throw new Error('matmul needs tensors of rank ≥ 2');
  const ar = a.shape.length;
  const br = b.shape.length;
  const [aRows, aCols] = [a.shape[ar - 2]!, a.shape[ar - 1]!];
  const [bRows, bCols] = [b.shape[br - 2]!, b.shape[br - 1]!];
  let M = transA ? aCols : aRows;
  const K = transA ? aRows : aCols;
  const Kb = transB ? bCols : bRows;
  const N = transB ? bRows : bCols;
  if (K !== Kb) throw new Error(`matmul: inner dimensions differ (A gives K=${K}, B gives K=${Kb}); shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  let batch = 1;
  let outShape: number[];
  const lead = a.shape.slice(0, -2);
  if (br === 2) {
    if (lead.length && transA) throw new Error('matmul: a batched transposed A needs a batched B');
    M = a.size / K;
    outShape = [...lead, transA ? aCols : aRows, N];
  } else {
    if (b.shape.slice(0, -2).join() !== lead.join()) throw new Error(`matmul: batch dims differ: [${a.shape.join(', ')}] vs [${b.shape.join(', ')}]`);
    batch = lead.reduce((x, y) => x * y, 1);
    outShape = [...lead, M, N];
  }
  if (bias) {
    assertF32(bias, 'matmul bias');
    if (bias.size !== N) throw new Error(`matmul: bias has ${bias.size} elements, N is ${N}`);
  }
  const c = empty(a.gpu, outShape);
  launchMatmul(a.gpu, { a: a.view, b: b.view, c: c.view, bias: bias?.view ?? null, M, N, K, batch, transA, transB, alpha });
  tape.record('matmul', bias ? [a, b, bias] : [a, b], [c], { transA, transB, alpha, batch, M, N, K });
  return c;
}
