// Runs self-checks: each check records GPU-vs-reference comparisons inside its own GPU error scope.

import type { Gpu } from '../gpu/runtime';
import { tape } from '../tensor/tape';
import { compare, describe, type Comparison, type Tolerance } from './compare';

export interface CheckContext {
  gpu: Gpu;
  /** Compares and records; returns the comparison. */
  expect(label: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance): Comparison;
}

export interface Check {
  /** e.g. "matmul", "layernorm" */
  name: string;
  /** The WGSL kernels it exercises. */
  kernels: string[];
  run(ctx: CheckContext): Promise<void>;
}

export interface CheckResult {
  name: string;
  kernels: string[];
  pass: boolean;
  comparisons: Comparison[];
  lines: string[];
  error: string | null;
  ms: number;
}

export async function runCheck(gpu: Gpu, check: Check): Promise<CheckResult> {
  const comparisons: Comparison[] = [];
  const lines: string[] = [];
  const t0 = performance.now();
  let error: string | null = null;
  const ctx: CheckContext = {
    gpu,
    expect(label, got, want, tol) {
      const c = compare(label, got, want, tol);
      comparisons.push(c);
      lines.push(describe(c, got, want));
      return c;
    },
  };
  const poolBefore = gpu.pool.stats().inUse;
  try {
    await gpu.scoped(() => check.run(ctx));
  } catch (e) {
    error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  } finally {
    tape.clear();
  }
  const leaked = gpu.pool.stats().inUse - poolBefore;
  if (!error && leaked !== 0)
    error = `${leaked} pooled buffer(s) still in use after the check (a tensor was not disposed)`;
  if (!error && comparisons.length === 0) error = 'the check compared nothing';
  const pass = !error && comparisons.every((c) => c.pass);
  return { name: check.name, kernels: check.kernels, pass, comparisons, lines, error, ms: performance.now() - t0 };
}
