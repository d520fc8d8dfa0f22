// A device's tensor cores checked before training trusts them: the first f16-mixed run on a device with a (real)
// tensor-core tile multiplies small f16 products in every transpose on it and compares them with f64 sums of the same
// halves. A tile that gets them wrong (a driver or Dawn whose subgroup matrices do not do what the kernel assumes) is
// turned off for that device, with the reason, and the products run on the FP32 kernels: slower, never wrong.

import type { Gpu } from '../../../gpu/runtime';
import { roundToHalf } from '../../../util/half';
import { Rng } from '../../../util/rng';
import { empty, fromArray } from '../../tensor';
import { launchMatmul } from './launch';
import { describeTile, disableTensorCores, sgmatTile, tileCols, tileRows } from './sgmat';

export interface TensorCoreVerdict {
  /** The tile checked (words). */
  tile: string;
  ok: boolean;
  /** The largest error over the products, relative to the sum of |a·b| of its output. */
  maxRelErr: number;
  /** In words: what was compared and, where it failed, that the tile is now off. */
  detail: string;
}

/** Well above f32 rounding of sums of K = 64 exact products, far below any wrong addressing or layout. */
const TOLERANCE = 1e-4;
const verdicts = new WeakMap<object, Promise<TensorCoreVerdict | null>>();

/**
 * Checks the device's tensor-core tile once (later calls get the same verdict); null where there is none, or it is
 * emulated (the tests check those; `emulated` checks it anyway, and `tolerance` other than the default: the tests of
 * this check). On a failure the tile is turned off (sgmatTile gives null from then on).
 */
export function verifyTensorCores(
  gpu: Gpu,
  opts: { emulated?: boolean; tolerance?: number } = {},
): Promise<TensorCoreVerdict | null> {
  if (sgmatTile(gpu)?.emulated && !opts.emulated) return Promise.resolve(null); // not recorded as a verdict
  let v = verdicts.get(gpu);
  if (!v) {
    v = check(gpu, !!opts.emulated, opts.tolerance ?? TOLERANCE);
    verdicts.set(gpu, v);
  }
  return v;
}

/**
 * The worst error of C = op(A)·op(B) on this device's f16 path (tensor cores where it has them) per transpose
 * ("plain", "tA", "tB", "tAtB"), on normal halves of [M,K] and [K,N], each entry's |ours − f64| relative to the sum
 * of |a·b| of its products (NaN counts as Infinity). Throws what the launch or the device throws.
 */
export async function tensorCoreErrors(
  gpu: Gpu,
  M: number,
  N: number,
  K: number,
  seed = 97,
): Promise<Record<string, number>> {
  const rng = new Rng(seed);
  const A = roundToHalf(Array.from({ length: M * K }, () => rng.normal()));
  const B = roundToHalf(Array.from({ length: K * N }, () => rng.normal()));
  const out: Record<string, number> = {};
  await gpu.scoped(async () => {
    const a = fromArray(gpu, A, [M * K], 'f16');
    const b = fromArray(gpu, B, [K * N], 'f16');
    const c = empty(gpu, [M * N]);
    try {
      for (const [transA, transB] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ] as const) {
        launchMatmul(gpu, { a: a.view, b: b.view, c: c.view, M, N, K, transA, transB, halfA: true, halfB: true });
        const got = await c.readF32();
        let worst = 0;
        for (let i = 0; i < M; i++)
          for (let j = 0; j < N; j++) {
            let s = 0;
            let abs = 0;
            for (let k = 0; k < K; k++) {
              const p = A[transA ? k * M + i : i * K + k]! * B[transB ? j * K + k : k * N + j]!;
              s += p;
              abs += Math.abs(p);
            }
            const e = Math.abs(got[i * N + j]! - s) / (abs + 1e-30);
            worst = Number.isNaN(e) ? Infinity : Math.max(worst, e);
          }
        out[`${transA ? 'tA' : ''}${transB ? 'tB' : ''}` || 'plain'] = worst;
      }
    } finally {
      for (const t of [a, b, c]) t.dispose();
    }
  });
  return out;
}

async function check(gpu: Gpu, emulated: boolean, tolerance: number): Promise<TensorCoreVerdict | null> {
  const tile = sgmatTile(gpu);
  if (!tile || (tile.emulated && !emulated)) return null; // (a tile turned off before a check)
  const [M, N, K] = [tileRows(tile), tileCols(tile), 64];
  let worst = 0;
  let failure: string | null = null;
  try {
    worst = Math.max(...Object.values(await tensorCoreErrors(gpu, M, N, K)));
  } catch (e) {
    if (gpu.error) throw gpu.error;
    failure = (e as Error).message;
  }
  const name = describeTile(tile);
  const ok = !failure && worst <= tolerance;
  if (!ok) disableTensorCores(gpu);
  return {
    tile: name,
    ok,
    maxRelErr: worst,
    detail: ok
      ? `tensor cores checked (${name}): ${M}×${N}×${K} in every transpose within ${worst.toExponential(1)} of f64`
      : `tensor cores turned off for this device (${name}): ${failure ?? `a ${M}×${N}×${K} product was off by ${worst.toExponential(1)} of f64 (more than ${tolerance})`}; f16-mixed runs its products on the FP32 kernels`,
  };
}
