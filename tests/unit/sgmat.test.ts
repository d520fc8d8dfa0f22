// The tensor-core matmul (matmul_sgmat.wgsl) run on the software adapter with its subgroup-matrix calls emulated
// (GpuOptions.emulateTensorCores): the same kernel text as on a GPU apart from the include that holds those calls, so
// its tiling, addressing (every transpose, batch strides, split-K parts) and epilogues (bias, alpha, beta, residual,
// GELU into f32 or halves) are checked against f64 sums of the same halves. What the builtins themselves compute is
// checked only where an adapter has them (the bench's tensor-core cases); their compilation on the null backend.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireNodeDevice } from '../../src/gpu/node';
import { Gpu } from '../../src/gpu/runtime';
import { geluRef } from '../../src/reference/linalg';
import { empty, fromArray } from '../../src/tensor';
import { launchMatmul, type MatmulArgs } from '../../src/tensor/ops/matmul';
import {
  describeTile,
  type SgmatTile,
  sgmatKernel,
  sgmatTile,
  stagedTile,
  tileRows,
} from '../../src/tensor/ops/matmul/sgmat';
import { splitK } from '../../src/tensor/ops/matmul/splitk';
import { verifyTensorCores } from '../../src/tensor/ops/matmul/tensor-cores';
import { halvesToF32, roundToHalf } from '../../src/util/half';
import { Rng } from '../../src/util/rng';

interface Case {
  name: string;
  M: number;
  N: number;
  K: number;
  batch?: number;
  transA?: boolean;
  transB?: boolean;
  bias?: boolean;
  alpha?: number;
  beta?: number;
  epilogue?: 'residual' | 'gelu' | 'gelu_f16';
  /** A tile to force (MatmulArgs.tensorCoreTile); the device's by default. */
  tile?: SgmatTile;
}

/** f64 of op(A[b])·op(B[b]) for row-major halves, as the kernel's contract says (alpha, bias, beta·C, residual). */
function reference(
  c: Case,
  A: Float32Array,
  B: Float32Array,
  bias: Float32Array | null,
  C0: Float32Array,
  R: Float32Array | null,
) {
  const { M, N, K, batch = 1, transA = false, transB = false, alpha = 1, beta = 0 } = c;
  const out = new Float64Array(batch * M * N);
  const scale = new Float64Array(batch * M * N); // Σ|a·b|: the error bound's scale
  for (let z = 0; z < batch; z++)
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        let abs = 0;
        for (let k = 0; k < K; k++) {
          const a = A[z * M * K + (transA ? k * M + i : i * K + k)]!;
          const b = B[z * K * N + (transB ? j * K + k : k * N + j)]!;
          s += a * b;
          abs += Math.abs(a * b);
        }
        const o = z * M * N + i * N + j;
        out[o] = alpha * s + (bias ? bias[j]! : 0) + beta * C0[o]! + (R ? R[o]! : 0);
        scale[o] = Math.abs(alpha) * abs + Math.abs(beta * C0[o]!) + (bias ? Math.abs(bias[j]!) : 0);
      }
  return { out, scale };
}

async function runCase(gpu: Gpu, c: Case, rng: Rng) {
  const { M, N, K, batch = 1 } = c;
  const rand = (n: number) => roundToHalf(Array.from({ length: n }, () => rng.normal()));
  const A = rand(batch * M * K);
  const B = rand(batch * K * N);
  const biasV = c.bias ? Float32Array.from({ length: N }, () => rng.normal()) : null;
  const C0 = Float32Array.from({ length: batch * M * N }, () => rng.normal());
  const R = c.epilogue === 'residual' ? Float32Array.from({ length: M * N }, () => rng.normal()) : null;
  const a = fromArray(gpu, A, [A.length], 'f16');
  const b = fromArray(gpu, B, [B.length], 'f16');
  const out = fromArray(gpu, C0, [C0.length]);
  const bias = biasV ? fromArray(gpu, biasV, [N]) : null;
  const r = R ? fromArray(gpu, R, [R.length]) : null;
  const g =
    c.epilogue === 'gelu' || c.epilogue === 'gelu_f16'
      ? empty(gpu, [M * N], c.epilogue === 'gelu' ? 'f32' : 'f16')
      : null;
  try {
    const args: MatmulArgs = {
      a: a.view,
      b: b.view,
      c: out.view,
      bias: bias?.view ?? null,
      M,
      N,
      K,
      batch,
      transA: c.transA,
      transB: c.transB,
      alpha: c.alpha,
      beta: c.beta,
      halfA: true,
      halfB: true,
      residual: r?.view ?? null,
      gelu: g?.view ?? null,
      geluHalf: c.epilogue === 'gelu_f16',
      tensorCoreTile: c.tile,
    };
    const before = gpu.dispatchesByKernel.get(sgmatName(c)) ?? 0;
    launchMatmul(gpu, args);
    expect(gpu.dispatchesByKernel.get(sgmatName(c)) ?? 0, `${c.name}: ran on the tensor-core kernel`).toBe(before + 1);
    const got = await out.readF32();
    const { out: want, scale } = reference(c, A, B, biasV, C0, R);
    let worst = 0;
    for (let i = 0; i < want.length; i++) {
      // f32 sums of exact products: |error| ≤ K·2⁻²⁴·Σ|a·b| (plus the epilogue's few roundings).
      const tol = (K + 4) * 2 ** -24 * (scale[i]! + Math.abs(want[i]!)) + 1e-30;
      worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / tol);
    }
    expect(worst, `${c.name}: worst error in units of its bound`).toBeLessThan(1);
    if (g) {
      const gv = c.epilogue === 'gelu' ? await g.readF32() : halvesToF32(new Uint16Array(await gpu.read(g.view)));
      const pre = Float64Array.from(got);
      const gelu = geluRef(pre);
      const expected = c.epilogue === 'gelu_f16' ? roundToHalf(gelu) : gelu;
      let gWorst = 0;
      for (let i = 0; i < M * N; i++)
        gWorst = Math.max(gWorst, Math.abs(gv[i]! - expected[i]!) / (1e-6 + Math.abs(expected[i]!)));
      // GELU of the stored pre-activation (f32 tanh vs f64), then rounded to halves the same way in both.
      expect(gWorst, `${c.name}: GELU output`).toBeLessThan(c.epilogue === 'gelu_f16' ? 1e-3 : 1e-5);
    }
    return got;
  } finally {
    for (const t of [a, b, out, bias, r, g]) t?.dispose();
  }
}

const sgmatName = (c: Case) => (c.epilogue ? `matmul_sgmat+${c.epilogue}` : 'matmul_sgmat');

const transposes = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;

for (const config of [
  { M: 8, N: 8, K: 8 },
  { M: 16, N: 16, K: 16 },
]) {
  describe(`the tensor-core matmul, emulated ${config.M}×${config.N}×${config.K} config`, () => {
    let gpu: Gpu;
    beforeAll(async () => {
      gpu = new Gpu(await acquireNodeDevice(), { emulateTensorCores: config });
    });
    afterAll(() => gpu.destroy());

    it('every transpose, with bias, alpha and beta, against f64 on the same halves', async () => {
      const tile = sgmatTile(gpu)!;
      expect(tile.emulated).toBe(true);
      expect(tileRows(tile)).toBe(64);
      const rng = new Rng(11);
      for (const [transA, transB] of transposes) {
        const t = `${transA ? 'tA' : ''}${transB ? 'tB' : ''}` || 'plain';
        // (NVIDIA's 16×16×16 takes the bias case alone: each of its emulated pipelines takes seconds to build here.)
        if (config.M === 8) await runCase(gpu, { name: `${t} 128×64×48`, M: 128, N: 64, K: 48, transA, transB }, rng);
        await runCase(
          gpu,
          { name: `${t} bias α β`, M: 64, N: 128, K: 32, transA, transB, bias: true, alpha: 0.5, beta: 1 },
          rng,
        );
      }
    });

    it('batch strides, split-K parts, and the residual and GELU epilogues', async () => {
      const rng = new Rng(12);
      await runCase(gpu, { name: 'batch 2', M: 64, N: 64, K: 48, batch: 2, transB: true }, rng);
      const long = { M: 64, N: 64, K: 2048 };
      expect(splitK(long)?.parts, 'the long product is split').toBeGreaterThan(1);
      await runCase(gpu, { name: 'split-K', ...long, transA: true }, rng);
      await runCase(gpu, { name: 'split-K into C (beta 1)', ...long, beta: 1 }, rng);
      await runCase(gpu, { name: 'residual', M: 128, N: 64, K: 32, epilogue: 'residual' }, rng);
      await runCase(gpu, { name: 'GELU', M: 64, N: 128, K: 32, bias: true, epilogue: 'gelu' }, rng);
      await runCase(gpu, { name: 'GELU into halves', M: 64, N: 64, K: 32, bias: true, epilogue: 'gelu_f16' }, rng);
    });

    if (config.M === 8)
      it('the K loop through workgroup memory: every transpose, a short last slice, split-K; the direct loop’s bits', async () => {
        const direct = sgmatTile(gpu)!;
        const staged = stagedTile(direct);
        expect(describeTile(staged)).toMatch(/K slices of 16 in workgroup memory/);
        expect(() => stagedTile(direct, 12)).toThrow(/not a positive multiple of the config's K 8/);
        const long = { M: 64, N: 64, K: 2048 };
        expect(splitK(long)?.parts, 'the long product is split').toBeGreaterThan(1);
        const cases: Case[] = [
          // K = 40: slices of 16, 16 and 8.
          ...transposes.map(([transA, transB]) => ({
            name: `${transA ? 'tA' : ''}${transB ? 'tB' : ''} 64×128×40 bias β`,
            M: 64,
            N: 128,
            K: 40,
            transA,
            transB,
            bias: true,
            beta: 1,
          })),
          { name: 'split-K', ...long, transB: true },
          { name: 'GELU into halves', M: 64, N: 64, K: 24, bias: true, epilogue: 'gelu_f16' },
        ];
        for (const c of cases) {
          const a = await runCase(gpu, { ...c, tile: direct }, new Rng(21));
          const b = await runCase(gpu, { ...c, name: `${c.name} (staged)`, tile: staged }, new Rng(21));
          expect(b, c.name).toEqual(a);
        }
      });

    it('a product the tile does not divide, or with an f32 operand, runs on the f32 kernels', async () => {
      const a = fromArray(gpu, roundToHalf([...Array(100 * 32)].map((_, i) => (i % 7) - 3)), [100 * 32], 'f16');
      const b = fromArray(gpu, roundToHalf([...Array(32 * 64)].map((_, i) => (i % 5) - 2)), [32 * 64], 'f16');
      const bf = fromArray(
        gpu,
        [...Array(32 * 64)].map((_, i) => (i % 5) - 2),
        [32 * 64],
      );
      const c = empty(gpu, [100 * 64]);
      try {
        const tc = gpu.dispatchesByKernel.get('matmul_sgmat') ?? 0;
        launchMatmul(gpu, { a: a.view, b: b.view, c: c.view, M: 100, N: 64, K: 32, halfA: true, halfB: true });
        launchMatmul(gpu, { a: a.view, b: bf.view, c: c.view, M: 64, N: 64, K: 32, halfA: true });
        await gpu.sync();
        expect(gpu.dispatchesByKernel.get('matmul_sgmat') ?? 0).toBe(tc);
      } finally {
        for (const t of [a, b, bf, c]) t.dispose();
      }
    });
  });
}

describe("the check of a device's tensor cores before training trusts them", () => {
  it('passes a right tile, and turns a tile off (products back on the f32 kernels) when its results are off', async () => {
    const bad = new Gpu(await acquireNodeDevice(), { emulateTensorCores: { M: 8, N: 8, K: 8 } });
    try {
      const again = new Gpu(await acquireNodeDevice(), { emulateTensorCores: { M: 8, N: 8, K: 8 } });
      try {
        // An emulated tile is the tests' business: the check leaves it alone unless asked.
        expect(await verifyTensorCores(again)).toBeNull();
        const v = (await verifyTensorCores(again, { emulated: true }))!;
        expect(v.ok).toBe(true);
        expect(v.maxRelErr).toBeLessThan(1e-6);
        expect(v.detail).toMatch(/^tensor cores checked \(f16 8×8×8 → f32, 64×64 per workgroup, emulated\)/);
        expect(sgmatTile(again)).not.toBeNull();
        expect(await verifyTensorCores(again, { emulated: true, tolerance: 0 })).toBe(v); // once per device: the first verdict
      } finally {
        again.destroy();
      }
      // A tolerance of 0: f32 rounding of the sums is an error, so the tile is judged wrong and turned off.
      const v = (await verifyTensorCores(bad, { emulated: true, tolerance: 0 }))!;
      expect(v.ok).toBe(false);
      expect(v.detail).toMatch(/^tensor cores turned off for this device .*on the FP32 kernels$/);
      expect(sgmatTile(bad)).toBeNull();
      const a = fromArray(bad, roundToHalf([...Array(64 * 64)].map((_, i) => (i % 7) - 3)), [64 * 64], 'f16');
      const c = empty(bad, [64 * 64]);
      try {
        launchMatmul(bad, { a: a.view, b: a.view, c: c.view, M: 64, N: 64, K: 64, halfA: true, halfB: true });
        await bad.sync();
        expect(bad.dispatchesByKernel.get('matmul_sgmat') ?? 0).toBe(4); // the check's four, none after
      } finally {
        a.dispose();
        c.dispose();
      }
    } finally {
      bad.destroy();
    }
  });
});

describe('tensor cores off', () => {
  it('GpuOptions.tensorCores false keeps f16 products on the f32 kernels even where a config exists', async () => {
    const gpu = new Gpu(await acquireNodeDevice(), { emulateTensorCores: { M: 8, N: 8, K: 8 }, tensorCores: false });
    try {
      expect(gpu.tensorCoreConfig).toBeNull();
      expect(sgmatTile(gpu)).toBeNull();
    } finally {
      gpu.destroy();
    }
    const acquired = await acquireNodeDevice();
    try {
      expect(() => new Gpu(acquired, { emulateTensorCores: { M: 8, N: 8, K: 12 } })).toThrow(
        /emulateTensorCores needs M, N and K of 4, 8, 16 or 32/,
      );
    } finally {
      acquired.device.destroy();
    }
  });

  it('GpuOptions.tensorCoreStaging trains on the K loop through workgroup memory; a forced tile that cannot run is refused', async () => {
    const gpu = new Gpu(await acquireNodeDevice(), {
      emulateTensorCores: { M: 8, N: 8, K: 8 },
      tensorCoreStaging: true,
    });
    try {
      const tile = sgmatTile(gpu)!;
      expect(tile.stageK).toBe(16);
      expect(sgmatKernel(tile).source).toMatch(/^\/\/#include matmul_sgmat_staged$/m);
      const a = empty(gpu, [64 * 64], 'f16');
      const f = empty(gpu, [64 * 64]);
      try {
        const x = { a: a.view, b: a.view, c: f.view, M: 64, N: 64, K: 64, tensorCoreTile: tile };
        expect(() => launchMatmul(gpu, { ...x, M: 40, halfA: true, halfB: true })).toThrow(
          /the tensor-core tile \(f16 8×8×8 → f32, 64×64 per workgroup, emulated, K slices of 16 in workgroup memory, 16384 bytes of workgroup memory\) does not fit M 40, N 64, K 64/,
        );
        expect(() => launchMatmul(gpu, { ...x, b: f.view, halfA: true })).toThrow(/takes two f16 operands/);
      } finally {
        a.dispose();
        f.dispose();
      }
    } finally {
      gpu.destroy();
    }
  });
});
