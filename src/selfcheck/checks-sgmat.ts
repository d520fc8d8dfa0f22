// Self-check of the tensor-core matmul (matmul_sgmat.wgsl): on every adapter with its subgroup-matrix calls emulated
// in plain arithmetic (an 8×8×8 config; the tiling, addressing and epilogues are the same kernel text), and where the
// adapter has an f16 → f32 subgroup-matrix config also on the hardware's own (tensor cores), each with both K loops
// (straight from storage, through workgroup memory), and always on that kernel (its dispatches counted): every transpose with a
// bias, alpha and beta, a split-K product and the half GELU epilogue, against f64 sums of the same halves.

import { empty, fromArray } from '../tensor';
import { launchMatmul, splitK } from '../tensor/ops/matmul';
import { geluRef, matmulRef } from '../reference/linalg';
import { halvesToF32, roundToHalf } from '../util/half';
import { Rng } from '../util/rng';
import { EXACT_COUNT, f32 } from './compare';
import { type SgmatTile, sgmatTile, stagedTile, tileFor } from '../tensor/ops/matmul/sgmat';
import type { Check } from './harness';
import type { Ctx } from './support';

interface Case {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  bias: boolean;
  beta: number;
  geluHalf?: boolean;
}

/** f32 sums of exact f16 products over K terms: well inside this for operands and outputs of order one. */
const TOL_TC = { atol: 1e-5, rtol: 1e-4 };

async function runCase({ gpu, expect }: Ctx, tile: SgmatTile, c: Case, rng: Rng, what: string): Promise<void> {
  const { M, N, K, transA, transB } = c;
  const scale = K ** -0.25;
  const A = Float64Array.from(roundToHalf(f32(rng.normals(M * K, scale))));
  const B = Float64Array.from(roundToHalf(f32(rng.normals(K * N, scale))));
  const bias = c.bias ? f32(rng.normals(N)) : null;
  const C0 = f32(rng.normals(M * N));
  const a = fromArray(gpu, A, [M * K], 'f16');
  const b = fromArray(gpu, B, [K * N], 'f16');
  const bt = bias ? fromArray(gpu, bias, [N]) : null;
  const out = fromArray(gpu, C0, [M * N]);
  const g = c.geluHalf ? empty(gpu, [M * N], 'f16') : null;
  const onTensorCores = () =>
    [...gpu.dispatchesByKernel].filter(([k]) => k.startsWith('matmul_sgmat')).reduce((n, [, d]) => n + d, 0);
  try {
    const before = onTensorCores();
    launchMatmul(gpu, {
      a: a.view,
      b: b.view,
      c: out.view,
      bias: bt?.view ?? null,
      M,
      N,
      K,
      transA,
      transB,
      alpha: 0.5,
      beta: c.beta,
      halfA: true,
      halfB: true,
      gelu: g?.view ?? null,
      geluHalf: !!g,
      tensorCoreTile: tile,
    });
    const ref = matmulRef(A, B, bias, { M, N, K, batch: 1, transA, transB }, 0.5);
    for (let i = 0; i < ref.length; i++) ref[i]! += c.beta * C0[i]!;
    const label = `${what} ${M}×${N}×${K} tA=${+transA} tB=${+transB}${c.bias ? ' bias' : ''}${c.beta ? ' β' : ''}`;
    const got = await out.readF32();
    expect(`${label}: dispatches of the tensor-core kernel`, [onTensorCores() - before], [1], EXACT_COUNT);
    expect(label, got, ref, TOL_TC);
    if (g) {
      // GELU of the stored pre-activation, rounded to halves: within a half's rounding of the f64 GELU of it.
      const gv = halvesToF32(new Uint16Array(await gpu.read(g.view)));
      expect(`${label} GELU halves`, gv, roundToHalf(geluRef(Float64Array.from(got))), { atol: 1e-3, rtol: 1e-3 });
    }
  } finally {
    for (const t of [a, b, bt, out, g]) t?.dispose();
  }
}

const sgmatCheck: Check = {
  name: 'matmul tensor cores',
  kernels: ['matmul_sgmat', 'matmul_sgmat+gelu_f16', 'colsum'],
  async run(ctx) {
    const { gpu } = ctx;
    const emulated = tileFor(
      { componentType: 'f16', resultComponentType: 'f32', M: 8, N: 8, K: 8 },
      4,
      gpu.device.limits.maxComputeInvocationsPerWorkgroup,
      true,
    );
    const hardware = sgmatTile(gpu);
    const tiles: [SgmatTile, string][] = [];
    // Each with both K loops: straight from storage, and through workgroup memory in slices.
    if (emulated) tiles.push([emulated, 'emulated'], [stagedTile(emulated), 'emulated, staged']);
    if (hardware && !hardware.emulated)
      tiles.push([hardware, 'tensor cores'], [stagedTile(hardware), 'tensor cores, staged']);
    ctx.expect('tiles to check', [tiles.length], [hardware && !hardware.emulated ? 4 : 2], EXACT_COUNT);
    const rng = new Rng(31);
    const long = { M: 64, N: 64, K: 2048 };
    ctx.expect('the long case splits', [(splitK(long)?.parts ?? 1) > 1 ? 1 : 0], [1], EXACT_COUNT);
    for (const [tile, what] of tiles) {
      for (const [transA, transB] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ] as const)
        await runCase(
          ctx,
          tile,
          { M: 64, N: 128, K: 48, transA, transB, bias: !transA, beta: transB ? 1 : 0 },
          rng,
          what,
        );
      await runCase(ctx, tile, { ...long, transA: true, transB: false, bias: false, beta: 0 }, rng, what);
      await runCase(
        ctx,
        tile,
        { M: 64, N: 64, K: 32, transA: false, transB: true, bias: true, beta: 0, geluHalf: true },
        rng,
        what,
      );
    }
  },
};

export const sgmatChecks: Check[] = [sgmatCheck];
