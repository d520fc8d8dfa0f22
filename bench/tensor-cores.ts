// The tensor-core matmul (f16 operands on subgroup matrices, f32 accumulation) where the device has it: the square
// sizes and GPT-2's block shapes (the multiples of the kernel's tile), each with its achieved TFLOP/s against the
// device table's FP16 tensor peak, and every entry of a 256³ product against an f64 reference on the same halves.
// The f32 cases stay in bench.ts; this one never runs on a device without an f16 subgroup-matrix config.

import type { Gpu } from '../src/gpu/runtime';
import { launchMatmulF16 } from '../src/tensor/ops/matmul/launch';
import { describeTile, sgmatFits, sgmatTile, stagedTile } from '../src/tensor/ops/matmul/sgmat';
import { tensorCoreErrors } from '../src/tensor/ops/matmul/tensor-cores';
import { splitK } from '../src/tensor/ops/matmul/splitk';
import { empty } from '../src/tensor/tensor';
import { peakFromTable } from '../src/train/peak';
import type { MatmulResult } from './bench';
import { timeWall } from './measure';

/** One timed shape: the f32 cases' fields (bench.ts), the peak being the FP16 tensor one, and the kernel's tile. */
export interface TensorCoreResult
  extends Pick<MatmulResult, 'label' | 'M' | 'N' | 'K' | 'transA' | 'transB' | 'ms' | 'reps' | 'tflops' | 'ofPeak'> {
  /** The config and tile the kernel ran with. */
  tile: string;
}

export interface TensorCoreCheck {
  /** Worst |ours − f64| over the entries of a 256³ product (each transpose), relative to Σ|a·b| of the entry. */
  maxRelErr: Record<string, number>;
}

const SHAPES = (rows: number, C: number) => [
  ...[1024, 2048, 4096].map((n) => ({ label: `${n}³ f16`, M: n, N: n, K: n, transA: false, transB: false })),
  { label: 'c_attn fwd 8192×768→2304 f16', M: rows, K: C, N: 3 * C, transA: false, transB: false },
  { label: 'mlp.c_fc fwd 8192×768→3072 f16', M: rows, K: C, N: 4 * C, transA: false, transB: false },
  { label: 'mlp.c_proj fwd 8192×3072→768 f16', M: rows, K: 4 * C, N: C, transA: false, transB: false },
  { label: 'c_attn dW (transA) 768×8192→2304 f16', M: C, K: rows, N: 3 * C, transA: true, transB: false },
  { label: 'c_attn dX (transB) 8192×2304→768 f16', M: rows, K: 3 * C, N: C, transA: false, transB: true },
  // f16-mixed's tied head on its padded copy (50257 → 50304 rows), one 640-row chunk: logits, dX, dW.
  { label: 'head logits (transB) 640×768→50304 f16', M: 640, K: C, N: 50304, transA: false, transB: true },
  { label: 'head dX 640×50304→768 f16', M: 640, K: 50304, N: C, transA: false, transB: false },
  { label: 'head dW (transA) 50304×640→768 f16', M: 50304, K: 640, N: C, transA: true, transB: false },
];

/**
 * Null where the device has no tensor-core path; else the check and every shape the tile divides, with both K loops
 * (straight from storage, the default, and through workgroup memory) so a GPU run says which to make the default.
 */
export async function benchTensorCores(
  gpu: Gpu,
  targetMs: number,
  log: (line: string) => void,
): Promise<{ check: TensorCoreCheck; results: TensorCoreResult[] } | null> {
  const tile = sgmatTile(gpu);
  if (!tile) return null;
  const peak = peakFromTable(gpu.description, 'f16-mixed');
  const tileName = describeTile(tile);
  // Correctness first: all four transposes at 256³ against f64 sums of the same halves.
  const check: TensorCoreCheck = { maxRelErr: await tensorCoreErrors(gpu, 256, 256, 256, 5) };
  log(`tensor cores (${tileName}): 256³ max rel err ${JSON.stringify(check.maxRelErr)}`);
  const results: TensorCoreResult[] = [];
  const loops = [{ ...tile, stageK: 0 }, stagedTile(tile)]; // whichever the device trains with (tensorCoreStaging)
  for (const [s, t] of SHAPES(8192, 768).flatMap((s) => loops.map((t) => [s, t] as const))) {
    if (!sgmatFits(t, s, splitK(s)?.kChunk ?? 0, gpu.limits.maxComputeWorkgroupStorageSize)) continue;
    const label = `${s.label}${t.stageK ? ' staged' : ''}`;
    const x = empty(gpu, [s.M * s.K], 'f16');
    const y = empty(gpu, [s.K * s.N], 'f16');
    const z = empty(gpu, [s.M * s.N]);
    try {
      gpu.clear(x.view);
      gpu.clear(y.view);
      const { ms, reps } = await timeWall(
        gpu,
        () => launchMatmulF16(gpu, { a: x.view, b: y.view, c: z.view, ...s, tensorCoreTile: t }),
        targetMs,
      );
      const tflops = (2 * s.M * s.N * s.K) / (ms / 1000) / 1e12;
      const ofPeak = peak ? (tflops * 1e12) / peak.flops : null;
      const r = { ...s, label, ms, reps, tflops, ofPeak, tile: describeTile(t) };
      log(
        `matmul ${label}: ${ms.toFixed(3)} ms, ${tflops.toFixed(1)} TFLOP/s${r.ofPeak !== null ? ` (${(100 * r.ofPeak).toFixed(1)}% of the FP16 tensor peak)` : ''}`,
      );
      results.push(r);
    } finally {
      for (const t of [x, y, z]) t.dispose();
    }
  }
  return { check, results };
}
