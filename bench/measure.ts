// Timing and input helpers shared by the benchmark's sections.

import type { Gpu } from '../src/gpu/runtime';
import type { Tensor } from '../src/tensor/tensor';
import type { Rng } from '../src/util/rng';

/** Fills `t` with uniform values in (−scale, scale) and returns them. */
export function randomFill(gpu: Gpu, t: Tensor, rng: Rng, scale = 1): Float32Array {
  const data = new Float32Array(t.size);
  for (let i = 0; i < data.length; i++) data[i] = (rng.next() * 2 - 1) * scale;
  gpu.upload(t.view, data);
  return data;
}

/** Mean wall ms of `record` over enough back-to-back repetitions to fill about `targetMs` (after one warm-up). */
export async function timeWall(
  gpu: Gpu,
  record: () => void,
  targetMs: number,
  maxReps = 50,
): Promise<{ ms: number; reps: number }> {
  record();
  await gpu.sync();
  let t0 = performance.now();
  record();
  await gpu.sync();
  const once = performance.now() - t0;
  const reps = Math.max(2, Math.min(maxReps, Math.ceil(targetMs / Math.max(once, 1e-3))));
  t0 = performance.now();
  for (let r = 0; r < reps; r++) record();
  await gpu.sync();
  return { ms: (performance.now() - t0) / reps, reps };
}
