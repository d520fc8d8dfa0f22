// Test-only helpers shared by several test files: a plain Jacobi eigensolver (independent of every solver under test)
// and the read-back/compare steps of the optimizer-vs-reference tests.

import type { Model } from '../../src/model/model';

/** Eigenvalues of a symmetric n×n matrix by cyclic Jacobi rotations, in diagonal order: the slow, sure way. */
export function symmetricEigenvalues(A0: ArrayLike<number>, n: number): number[] {
  const A = Float64Array.from(A0);
  let scale = 0;
  for (const v of A) scale += v * v;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p * n + q]! ** 2;
    if (off <= 1e-30 * Math.max(scale, 1e-300)) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q]!;
        if (apq === 0) continue;
        const theta = (A[q * n + q]! - A[p * n + p]!) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p]!;
          const akq = A[k * n + q]!;
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k]!;
          const aqk = A[q * n + k]!;
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  return Array.from({ length: n }, (_, i) => A[i * n + i]!);
}

/** Every parameter's gradient as the GPU computed it, in f64, by name. */
export async function gpuGrads(model: Model, names: Iterable<string>): Promise<Map<string, Float64Array>> {
  const out = new Map<string, Float64Array>();
  for (const name of names) out.set(name, Float64Array.from(await model.params.get(name)!.grad!.readF32()));
  return out;
}

/** Global L2 norm of a set of tensors. */
export function globalL2(m: Map<string, ArrayLike<number>>): number {
  let s = 0;
  for (const g of m.values()) for (let i = 0; i < g.length; i++) s += g[i]! ** 2;
  return Math.sqrt(s);
}

/** Worst |got − want| / (atol + rtol·|want|): below 1 passes. */
export function worstOfTolerance(got: ArrayLike<number>, want: ArrayLike<number>, atol = 1e-6, rtol = 1e-5): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++)
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (atol + rtol * Math.abs(want[i]!)));
  return worst;
}
