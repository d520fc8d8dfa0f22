// Model FLOPs utilisation's numerator and our own roofline (DESIGN.md "MFU"): FLOPs per token of a model, and a
// measured matmul peak for adapters the device table (peak.ts) does not know.

import type { Gpu } from '../gpu/runtime';
import type { ModelConfig } from '../model/family';
import { paramCount } from '../model/params';
import { launchMatmul } from '../tensor/ops/matmul';
import { empty } from '../tensor/tensor';
import type { Peak } from './peak';

export { mfu, type Peak, type PeakSource, peakFromTable, userPeak } from './peak';

/**
 * 6N + 12·L·H·D·T: N = parameters without learned position tables (a tied head counted once), H·D = the attention
 * width (query heads × head size), T = the sequence length trained on.
 */
export function flopsPerToken(c: ModelConfig, T: number): number {
  return 6 * paramCount(c, { excludePositions: true }) + 12 * c.layers * c.heads * c.headDim * T;
}

/**
 * Times our own f32 matmul on square sizes, doubling from 256 while a run takes under `budgetMs` / 4 (a software
 * adapter stops small, a GPU reaches 4096), and returns the best FLOP/s seen: the roofline this engine can reach,
 * which makes MFU a measure of how close the whole step gets to its best kernel.
 */
export async function measureMatmulPeak(gpu: Gpu, budgetMs = 2000): Promise<Peak> {
  let best = 0;
  let bestN = 0;
  const started = performance.now();
  for (let n = 256; n <= 4096; n *= 2) {
    const a = empty(gpu, [n, n]);
    const b = empty(gpu, [n, n]);
    const c = empty(gpu, [n, n]);
    try {
      gpu.clear(a.view);
      gpu.clear(b.view);
      launchMatmul(gpu, { a: a.view, b: b.view, c: c.view, M: n, N: n, K: n });
      await gpu.sync(); // compile and warm up outside the timing
      const reps = n <= 1024 ? 4 : 2;
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) launchMatmul(gpu, { a: a.view, b: b.view, c: c.view, M: n, N: n, K: n });
      await gpu.sync();
      const ms = (performance.now() - t0) / reps;
      const flops = (2 * n ** 3) / (ms / 1000);
      if (flops > best) [best, bestN] = [flops, n];
      if (ms > budgetMs / 4 || performance.now() - started > budgetMs) break;
    } finally {
      for (const t of [a, b, c]) t.dispose();
    }
  }
  return { flops: best, source: 'measured matmul roofline', label: `best of our f32 matmul, ${bestN}³` };
}
