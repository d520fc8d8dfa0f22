// Per-shape matmul tuning: every variant that can run a shape queued in the device's KernelChoices is timed on
// scratch operands and the fastest kept. The variants are bit-identical, so a choice changes speed, never results.

import type { Gpu } from '../../../gpu/runtime';
import { empty } from '../../tensor';
import { type MatmulVariant, variantsFor } from './kernels';
import { launchMatmul, MATMUL_CHOICE, type MatmulShape } from './launch';

export interface MatmulTuning {
  shape: string;
  chosen: MatmulVariant;
  ms: Partial<Record<MatmulVariant, number>>;
}

/** Whether shapes await timing on this device (tuneMatmuls then has work). */
export function hasPendingMatmulTuning(gpu: Gpu): boolean {
  return gpu.kernelChoices.hasPending;
}

/** Times each variant on every shape launched since the last call (timeVariants) and keeps the fastest. */
export async function tuneMatmuls(gpu: Gpu): Promise<MatmulTuning[]> {
  const choices = gpu.kernelChoices;
  const out: MatmulTuning[] = [];
  for (const [key, shape] of choices.takePending()) {
    if (!key.startsWith(MATMUL_CHOICE)) continue;
    const s = shape as unknown as MatmulShape;
    const sizes = [s.batch * s.M * s.K, s.batch * s.K * s.N, s.batch * s.M * s.N].map((n) => n * 4);
    if (sizes.some((b) => b > gpu.limits.maxBinding)) {
      choices.choose(key, 'simple');
      continue;
    }
    try {
      // In error scopes: scratch operands the GPU has no memory for fail this shape's timing, not the device.
      const ms = await gpu.scoped(() => timeVariants(gpu, s));
      const chosen = variantsFor(gpu, s).reduce((x, y) => (ms[y]! < ms[x]! ? y : x));
      choices.choose(key, chosen);
      out.push({ shape: key.slice(MATMUL_CHOICE.length), chosen, ms });
    } catch {
      if (gpu.error) throw gpu.error;
      choices.choose(key, 'simple');
    }
  }
  if (out.length) gpu.trim(); // hand the scratch operands' memory back
  return out;
}

/** Host milliseconds a tuning measurement aims to span (a few launches of a small product, one of a large one). */
const TUNE_TARGET_MS = 3;

/**
 * Milliseconds per launch of each variant on zeroed scratch operands of shape `s`. A measurement times `reps`
 * launches submitted back to back then awaited, so the wait for the GPU (a large share of one small product's wall
 * time) is spread over them; the variants take turns over 3 rounds, and each keeps its best round.
 */
async function timeVariants(gpu: Gpu, s: MatmulShape): Promise<Partial<Record<MatmulVariant, number>>> {
  const a = empty(gpu, [s.batch * s.M * s.K]);
  const b = empty(gpu, [s.batch * s.K * s.N]);
  const c = empty(gpu, [s.batch * s.M * s.N]);
  try {
    gpu.clear(a.view);
    gpu.clear(b.view);
    const timed = async (variant: MatmulVariant, reps: number) => {
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) launchMatmul(gpu, { a: a.view, b: b.view, c: c.view, ...s, variant });
      await gpu.sync();
      return (performance.now() - t0) / reps;
    };
    const variants = variantsFor(gpu, s);
    const reps = new Map<MatmulVariant, number>();
    for (const v of variants) {
      await timed(v, 1); // compiles the pipeline, binds the operands
      reps.set(v, Math.max(1, Math.min(50, Math.ceil(TUNE_TARGET_MS / Math.max(await timed(v, 1), 1e-3)))));
    }
    const ms: Partial<Record<MatmulVariant, number>> = {};
    for (let round = 0; round < 3; round++) {
      for (const v of variants) ms[v] = Math.min(ms[v] ?? Infinity, await timed(v, reps.get(v)!));
    }
    return ms;
  } finally {
    for (const z of [a, b, c]) z.dispose();
  }
}
