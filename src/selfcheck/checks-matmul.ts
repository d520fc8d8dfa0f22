// Self-check of every matmul kernel variant (plain 64×64, register-tiled 64×64 and 128×128, the 128×128 one with
// vec4 loads where the shape allows, both with 8- and 16-deep K slices where the adapter allows), each forced on
// shapes that cross tile, K-slice and 4-wide quad edges, with every transpose, a bias, alpha, beta accumulation and a
// broadcast batch operand; split-K on long-K shapes; and the variants bit-identical to one another (tuning may swap
// them mid-run). Each variant's half-storage twin (A an f16 tensor) gives, bit for bit, what the f32 kernel gives on
// the same values widened.

import { Rng } from '../util/rng';
import { empty, fromArray, tidyAsync } from '../tensor';
import { launchMatmul, splitK, variantsFor } from '../tensor/ops/matmul';
import { matmulRef } from '../reference/linalg';
import { roundToHalf } from '../util/half';
import { f32 } from './compare';
import type { Check } from './harness';
import { TOL_REDUCE } from './checks-ops';

type Ctx = Parameters<Check['run']>[0];

/**
 * Every variant on each [M, N, K, batch] case and transpose combination: C = 0.5·op(A)·op(B) (+ bias) + C0 with B
 * shared by every batch entry (stride 0), then beta 0 into an uninitialised output; results against the f64
 * reference and the variants bit-identical to one another. `half`: A holds values representable as halves, and each
 * variant also runs with A stored as an f16 tensor; all of those results must be bit-identical too. (Without transB
 * only: how B is read does not depend on A's storage, and the f16 matmul op refuses transB.)
 */
async function variantCases({ gpu, expect }: Ctx, rng: Rng, cases: [number, number, number, number][], withBias: boolean, scale = 1, half = false): Promise<void> {
  for (const [M, N, K, batch] of cases) {
    for (const transA of [false, true]) {
      for (const transB of half ? [false] : [false, true]) {
        const outs: Float32Array[] = [];
        const normals = f32(rng.normals(batch * M * K, scale));
        const A = half ? Float64Array.from(roundToHalf(normals)) : normals;
        const B = f32(rng.normals(K * N, scale));
        const bias = withBias ? f32(rng.normals(N)) : null;
        const C0 = f32(rng.normals(batch * M * N));
        const label = `[${batch}×]${M}×${N}×${K} tA=${+transA} tB=${+transB}`;
        const runs = variantsFor(gpu, { M, N, K, transA, transB }).flatMap((variant) => (half ? [false, true] : [false]).map((halfA) => ({ variant, halfA })));
        for (const { variant, halfA } of runs) {
          const name = halfA ? `${variant} f16 A` : variant;
          await tidyAsync(async () => {
            const a = fromArray(gpu, A, [batch * M * K], halfA ? 'f16' : 'f32');
            const b = fromArray(gpu, B, [K * N]);
            const bb = bias ? fromArray(gpu, bias, [N]) : null;
            const c = fromArray(gpu, C0, [batch * M * N]);
            launchMatmul(gpu, { a: a.view, b: b.view, c: c.view, bias: bb?.view ?? null, M, N, K, batch, strideB: 0, transA, transB, alpha: 0.5, beta: 1, variant, halfA });
            const ref = matmulRef(A, B, bias, { M, N, K, batch, transA, transB, broadcastB: true }, 0.5).map((v, i) => v + C0[i]!);
            const got = await c.readF32();
            outs.push(got);
            expect(`${name} ${label}`, got, ref, TOL_REDUCE);
            // Overwrite (beta 0) into an uninitialised output: no stale value may leak in.
            const d = empty(gpu, [batch * M * N]);
            launchMatmul(gpu, { a: a.view, b: b.view, c: d.view, M, N, K, batch, strideB: 0, transA, transB, variant, halfA });
            const ref0 = matmulRef(A, B, null, { M, N, K, batch, transA, transB, broadcastB: true });
            expect(`${name} beta 0 ${label}`, await d.readF32(), ref0, TOL_REDUCE);
          });
        }
        const differ = outs.slice(1).map((o) => o.findIndex((v, i) => !Object.is(v, outs[0]![i]))).filter((i) => i >= 0).length;
        expect(`variants bit-identical ${label}`, [differ], [0], { atol: 0.5, rtol: 0 }); // a count of differing variants
      }
    }
  }
}

const tiledMatmulCheck: Check = {
  name: 'matmul tiles',
  kernels: ['matmul'],
  async run(ctx) {
    // [M, N, K, batch]: ragged against 64/128 tiles, K against the 8- and 16-deep slices, N against the 4-wide quads;
    // the last two have every dimension a multiple of 4 (so the vec4-load kernels run too), still ragged against tiles
    // and slices.
    await variantCases(ctx, new Rng(11), [[130, 67, 33, 1], [1, 129, 17, 1], [70, 3, 16, 2], [129, 131, 5, 1], [132, 68, 36, 2], [4, 260, 20, 1]], true);
  },
};

// Split-K (few output tiles, long K: weight gradients, the tied head's dx): parts sum their K ranges into a scratch,
// then are added into C, cleared first when beta is 0. No bias (a split product never has one). The second case's K
// leaves a ragged last part and is no multiple of 4.
const splitMatmulCheck: Check = {
  name: 'matmul split-K',
  kernels: ['matmul', 'colsum'],
  async run(ctx) {
    const cases: [number, number, number, number][] = [[20, 36, 2100, 1], [9, 7, 2050, 1]];
    const split = cases.filter(([M, N, K]) => splitK({ M, N, K }) !== null).length;
    ctx.expect('cases that split', [split], [cases.length], { atol: 0.5, rtol: 0 });
    // Operands scaled by K^-1/4 keep the outputs near 1, so f32 rounding over K terms stays inside TOL_REDUCE.
    await variantCases(ctx, new Rng(12), cases, false, 2100 ** -0.25);
  },
};

// Half-storage A: every variant's f16-A twin against the f32 kernel on the same (half-representable) values. Odd K
// and odd batch strides put elements in both halves of a word at tile and slice edges; the second case lets the
// vec4-load twin run; the third splits K.
const halfMatmulCheck: Check = {
  name: 'matmul f16 A',
  kernels: ['matmul', 'colsum'],
  async run(ctx) {
    await variantCases(ctx, new Rng(13), [[67, 33, 17, 3], [12, 8, 20, 2]], true, 1, true);
    await variantCases(ctx, new Rng(14), [[9, 7, 2050, 1]], false, 2050 ** -0.25, true);
  },
};

export const matmulChecks: Check[] = [tiledMatmulCheck, splitMatmulCheck, halfMatmulCheck];
