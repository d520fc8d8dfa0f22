// Self-checks of the ops inside the blocks (matmul, elementwise, LayerNorm, attention, reductions) and of grids
// folded past the workgroup-count limit: GPU forward and backward against the f64 references, on odd shapes (1, 7,
// 33, 65: not multiples of any workgroup size). The model's two ends are checks-ends.ts's.

import { Rng } from '../util/rng';
import { backward, fromArray, tidyAsync } from '../tensor';
import * as ops from '../tensor';
import {
  matmulRef,
  matmulBackwardRef,
  transposeRef,
  geluRef,
  geluBackwardRef,
  sumRef,
  l2NormRef,
  addRef,
} from '../reference/linalg';
import { layernormRef, layernormBackwardRef, attentionRef, attentionBackwardRef } from '../reference/nn';
import { crossEntropyCase, embeddingCase } from './checks-ends';
import { differingElements, f32, EXACT_COUNT } from './compare';
import { type Ctx, grad, param, TOL_ELEMENTWISE, TOL_EXACT, TOL_REDUCE } from './support';
import type { Check } from './harness';

const matmulCheck: Check = {
  name: 'matmul',
  kernels: ['matmul', 'colsum'],
  async run({ gpu, expect }) {
    const rng = new Rng(1);
    // The last three span several 256-row chunks and ragged 64-column tiles of the bias-gradient column sum; in the
    // last, M = 2100 rows make the weight gradient a split-K product (2 parts), whose sum shares its dispatch with the
    // bias gradient's partials.
    const cases: [number, number, number, number][] = [
      [1, 1, 1, 1],
      [7, 33, 65, 1],
      [65, 7, 33, 1],
      [33, 65, 7, 1],
      [7, 5, 9, 3],
      [520, 70, 3, 1],
      [150, 129, 2, 4],
      [2100, 3, 5, 1],
    ];
    for (const [M, N, K, batch] of cases) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          await tidyAsync(async () => {
            const A = f32(rng.normals(batch * M * K));
            const B = f32(rng.normals(batch * K * N));
            const bias = f32(rng.normals(N));
            const G = f32(rng.normals(batch * M * N));
            const alpha = batch > 1 ? 0.5 : 1;
            const lead = batch > 1 ? [batch] : [];
            const a = param(gpu, A, [...lead, ...(transA ? [K, M] : [M, K])]);
            const b = param(gpu, B, [...lead, ...(transB ? [N, K] : [K, N])]);
            const bb = param(gpu, bias, [N]);
            // Two backward passes: the second must add to the first (beta = 1 into non-zero gradients).
            let c = ops.matmul(a, b, { transA, transB, bias: bb, alpha });
            backward(c, fromArray(gpu, G, c.shape));
            c = ops.matmul(a, b, { transA, transB, bias: bb, alpha });
            backward(c, fromArray(gpu, G, c.shape));
            const dims = { M, N, K, batch, transA, transB };
            const tag = `[${batch}×]${M}×${N}×${K} tA=${+transA} tB=${+transB}`;
            const tol = TOL_REDUCE;
            expect(`forward ${tag}`, await c.readF32(), matmulRef(A, B, bias, dims, alpha), tol);
            const ref = matmulBackwardRef(A, B, G, dims, alpha);
            const twice = (x: Float64Array) => x.map((v) => 2 * v);
            expect(`dA (2 passes) ${tag}`, await grad(a), twice(ref.dA), tol);
            expect(`dB (2 passes) ${tag}`, await grad(b), twice(ref.dB), tol);
            expect(`dbias (2 passes) ${tag}`, await grad(bb), twice(ref.dBias), tol);
          });
        }
      }
    }
    // A linear layer: [B,T,C] · [C,N] folds B·T into M; the shared weight's gradient sums over all rows.
    await tidyAsync(async () => {
      const [Bt, T, C, N] = [3, 7, 5, 9];
      const X = f32(rng.normals(Bt * T * C));
      const W = f32(rng.normals(C * N));
      const G = f32(rng.normals(Bt * T * N));
      const x = param(gpu, X, [Bt, T, C]);
      const w = param(gpu, W, [C, N]);
      const y = ops.matmul(x, w);
      backward(y, fromArray(gpu, G, y.shape));
      const dims = { M: Bt * T, N, K: C, batch: 1, transA: false, transB: false };
      expect('linear [3,7,5]·[5,9] forward', await y.readF32(), matmulRef(X, W, null, dims), TOL_REDUCE);
      const ref = matmulBackwardRef(X, W, G, dims);
      expect('linear dX', await grad(x), ref.dA, TOL_REDUCE);
      expect('linear dW', await grad(w), ref.dB, TOL_REDUCE);
    });
  },
};

const elementwiseCheck: Check = {
  name: 'add, scale, gelu',
  kernels: ['add', 'axpby', 'gelu_forward', 'gelu_backward'],
  async run({ gpu, expect }) {
    const rng = new Rng(2);
    for (const n of [1, 7, 33, 65, 70_001]) {
      await tidyAsync(async () => {
        const X = f32(rng.normals(n, 3));
        if (n === 7) X.set([-20, -10, -3, 0, 3, 10, 20]); // saturated tails of tanh
        const Y = f32(rng.normals(n));
        const G = f32(rng.normals(n));
        const x = param(gpu, X, [n]);
        const y = param(gpu, Y, [n]);
        const s = ops.add(x, y);
        backward(s, fromArray(gpu, G, [n]));
        expect(`add forward n=${n}`, await s.readF32(), addRef(X, Y), TOL_EXACT);
        expect(`add da n=${n}`, await grad(x), G, TOL_EXACT);
        expect(`add db n=${n}`, await grad(y), G, TOL_EXACT);
        const x2 = param(gpu, X, [n]);
        const z = ops.scale(x2, -1.5);
        backward(z, fromArray(gpu, G, [n]));
        expect(
          `scale forward n=${n}`,
          await z.readF32(),
          X.map((v) => -1.5 * v),
          TOL_EXACT,
        );
        expect(
          `scale dx n=${n}`,
          await grad(x2),
          G.map((v) => -1.5 * v),
          TOL_EXACT,
        );
        const x3 = param(gpu, X, [n]);
        const gl = ops.gelu(x3);
        backward(gl, fromArray(gpu, G, [n]));
        expect(`gelu forward n=${n}`, await gl.readF32(), geluRef(X), TOL_ELEMENTWISE);
        expect(`gelu backward n=${n}`, await grad(x3), geluBackwardRef(X, G), TOL_ELEMENTWISE);
      });
    }
  },
};

/**
 * One LayerNorm case: forward, dx, dw, db. `half`: the output as an f16 tensor (half-precision activations), which
 * must hold the same halves as the f32 output rounded by toHalf on this device, within one half rounding of the f64
 * reference; its gradients are f32 as ever.
 */
export async function layernormCase(
  { gpu, expect }: Ctx,
  rng: Rng,
  rows: number,
  C: number,
  half = false,
  /** Which gradients are asked for: both (default), the input's alone, or the weight's and bias's alone. */
  needs: 'all' | 'dx' | 'params' = 'all',
): Promise<void> {
  await tidyAsync(async () => {
    const X = f32(rng.normals(rows * C, 2).map((v) => v + 1));
    const W = f32(rng.normals(C).map((v) => 1 + 0.1 * v));
    const Bv = f32(rng.normals(C, 0.1));
    const G = f32(rng.normals(rows * C));
    const leaf = (v: Float64Array, shape: number[], asked: boolean) =>
      asked ? param(gpu, v, shape) : fromArray(gpu, v, shape);
    const x = leaf(X, [rows, C], needs !== 'params');
    const w = leaf(W, [C], needs !== 'dx');
    const b = leaf(Bv, [C], needs !== 'dx');
    const y = ops.layernorm(x, w, b, { half });
    backward(y, fromArray(gpu, G, y.shape));
    const tag = `${half ? 'f16 ' : ''}${rows}×${C}${needs === 'all' ? '' : ` (${needs} only)`}`;
    const got = await y.readF32();
    if (half) {
      expect(`dtype ${tag}`, [y.dtype === 'f16' ? 0 : 1], [0], EXACT_COUNT);
      const viaF32 = await ops.toHalf(ops.layernorm(x, w, b)).readF32();
      expect(`same halves as f32 then toHalf ${tag}`, [differingElements(got, viaF32)], [0], EXACT_COUNT);
    }
    expect(
      `forward ${tag}`,
      got,
      layernormRef(X, W, Bv, rows, C).y,
      half ? { atol: 1e-4, rtol: 2 ** -10 } : TOL_REDUCE,
    );
    const ref = layernormBackwardRef(X, W, G, rows, C);
    // C = 1: dx is exactly 0, and rstd = 1/√eps ≈ 316 scales the f32 rounding of (x − mean).
    if (needs !== 'params')
      expect(`dx ${tag}`, await grad(x), ref.dx, C === 1 ? { atol: 1e-3, rtol: 1e-3 } : TOL_REDUCE);
    if (needs !== 'dx') {
      expect(`dw ${tag}`, await grad(w), ref.dw, TOL_REDUCE);
      expect(`db ${tag}`, await grad(b), ref.db, TOL_REDUCE);
    }
    const none = needs === 'params' ? x : needs === 'dx' ? w : null;
    if (none) expect(`no gradient where none was asked for ${tag}`, [none.grad ? 1 : 0], [0], EXACT_COUNT);
  });
}

/** One attention case (KV key/value heads, default H): forward and dqkv. */
async function attentionCase(
  { gpu, expect }: Ctx,
  rng: Rng,
  B: number,
  T: number,
  H: number,
  D: number,
  KV = H,
): Promise<void> {
  await tidyAsync(async () => {
    const W = (H + 2 * KV) * D;
    const QKV = f32(rng.normals(B * T * W));
    const G = f32(rng.normals(B * T * H * D));
    const qkv = param(gpu, QKV, [B, T, W]);
    const out = ops.attention(qkv, H, KV);
    backward(out, fromArray(gpu, G, out.shape));
    const tag = `B=${B} T=${T} H=${H} KV=${KV} D=${D}`;
    expect(`forward ${tag}`, await out.readF32(), attentionRef(QKV, B, T, H, D, KV).out, TOL_REDUCE);
    expect(`dqkv ${tag}`, await grad(qkv), attentionBackwardRef(QKV, G, B, T, H, D, KV), TOL_REDUCE);
  });
}

/** One cross-entropy case, every fifth row ignored, with a non-unit upstream gradient (it must scale the result). */
const layernormCheck: Check = {
  name: 'layernorm',
  kernels: ['layernorm_forward', 'layernorm_backward'],
  async run(ctx) {
    const rng = new Rng(3);
    // [600, 70] and [257, 130]: several 256-row chunks (partials, then colsum) with ragged 64-column tiles.
    for (const [rows, C] of [
      [1, 1],
      [1, 7],
      [7, 33],
      [33, 65],
      [5, 300],
      [256, 64],
      [257, 130],
      [600, 70],
    ] as const)
      await layernormCase(ctx, rng, rows, C);
    // One dispatch makes dx and the parameter sums: each alone too, with one chunk of rows and with several.
    for (const [rows, C] of [
      [33, 65],
      [600, 70],
    ] as const) {
      await layernormCase(ctx, rng, rows, C, false, 'dx');
      await layernormCase(ctx, rng, rows, C, false, 'params');
    }
  },
};

const attentionCheck: Check = {
  name: 'attention',
  kernels: ['attention_forward', 'attention_backward_dq', 'attention_backward_dkv'],
  async run(ctx) {
    const rng = new Rng(4);
    // Workgroups own 64 (or 32) query or key rows and stage 4 to 16 rows per step; head sizes are padded to 4, 8 … 256,
    // with a row split over 2 to 8 threads past 32 or 64: T = 130 spans three query blocks and ends mid-tile, D = 5,
    // 65 and 100 are not multiples of 4; D = 64 takes dq's split-row path, D = 65, 100 and 256 those of all three kernels.
    const cases = [
      [1, 1, 1, 1],
      [2, 7, 2, 4],
      [1, 33, 3, 5],
      [1, 65, 2, 8],
      [1, 70, 1, 65],
      [1, 130, 2, 64],
      [2, 40, 3, 32],
      [1, 5, 1, 256],
      [1, 67, 1, 100],
    ] as const;
    for (const [B, T, H, D] of cases) {
      await attentionCase(ctx, rng, B, T, H, D);
    }
  },
};

const groupedAttentionCheck: Check = {
  name: 'attention, grouped key/value heads',
  kernels: ['attention_forward', 'attention_backward_dq', 'attention_backward_dkv'],
  async run(ctx) {
    const rng = new Rng(14);
    // KV = 1 (one key/value head for all), KV = 2 of 4 and 6, KV = H; the Llama family's head sizes 32, 64, 96, 128
    // (96 pads to the 128 bucket); odd T ending mid-tile; B = 2 so heads of different batches stay apart.
    const cases = [
      [2, 9, 4, 32, 1],
      [1, 19, 4, 32, 2],
      [1, 13, 6, 64, 2],
      [2, 11, 2, 96, 1],
      [1, 7, 4, 128, 2],
      [1, 5, 3, 128, 3],
    ] as const;
    for (const [B, T, H, D, KV] of cases) await attentionCase(ctx, rng, B, T, H, D, KV);
  },
};

const reduceCheck: Check = {
  name: 'sum, global norm, transpose',
  kernels: ['reduce_sum', 'broadcast_accumulate', 'transpose'],
  async run({ gpu, expect }) {
    const rng = new Rng(7);
    for (const n of [1, 7, 4097, 70_001]) {
      await tidyAsync(async () => {
        const X = f32(rng.normals(n));
        const x = param(gpu, X, [n]);
        const s = ops.sum(x);
        backward(s, fromArray(gpu, [2.5], [1]));
        expect(`sum n=${n}`, await s.readF32(), [sumRef(X)], TOL_REDUCE);
        expect(`sum backward n=${n}`, await grad(x), new Float64Array(n).fill(2.5), TOL_EXACT);
      });
    }
    await tidyAsync(async () => {
      const parts = [1, 65, 5000, 9000].map((n) => f32(rng.normals(n)));
      const norm = ops.globalNorm(
        parts.map((p, i) => fromArray(gpu, p, [p.length]).slice(0, [i === 0 ? 1 : p.length])),
      );
      expect('global L2 norm over 4 tensors', await norm.readF32(), [l2NormRef(parts)], TOL_REDUCE);
    });
    for (const [R, C] of [
      [1, 1],
      [7, 33],
      [65, 17],
    ] as const) {
      await tidyAsync(async () => {
        const X = f32(rng.normals(R * C));
        const G = f32(rng.normals(R * C));
        const x = param(gpu, X, [R, C]);
        const y = ops.transpose(x);
        backward(y, fromArray(gpu, G, [C, R]));
        expect(`transpose ${R}×${C}`, await y.readF32(), transposeRef(X, R, C), TOL_EXACT);
        expect(`transpose backward ${R}×${C}`, await grad(x), transposeRef(G, C, R), TOL_EXACT);
      });
    }
  },
};

const foldedGridCheck: Check = {
  name: 'folded 2-D grids',
  kernels: ['add', 'gelu_*', 'layernorm_*', 'crossentropy_*', 'attention_*', 'embedding_*', 'reduce_sum'],
  async run(ctx) {
    const { gpu, expect } = ctx;
    const rng = new Rng(8);
    await tidyAsync(async () => {
      const n = 65535 * 256 + 257;
      const X = Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1999) / 1999 - 0.5);
      const y = ops.add(fromArray(gpu, X, [n]), fromArray(gpu, X, [n]));
      expect(
        `add n=${n} (${Math.ceil(n / 256)} workgroups, real limit)`,
        await y.readF32(),
        X.map((v) => 2 * v),
        TOL_EXACT,
      );
    });
    const saved = gpu.maxGridX;
    gpu.maxGridX = 61;
    try {
      // Each case needs more than 61 workgroups, so x·y > count and the surplus workgroups must do nothing.
      await layernormCase(ctx, rng, 3001, 16); // 61 × 50 = 3050 workgroups for 3001 rows
      await crossEntropyCase(ctx, rng, 3001, 5);
      await attentionCase(ctx, rng, 47, 33, 2, 3); // 3102 rows
      const tokens = Int32Array.from({ length: 40 * 50 }, (_, i) => (i * 37) % 300); // 300 distinct ids
      await embeddingCase(ctx, rng, tokens, 40, 50, 4, 300, 50);
      await tidyAsync(async () => {
        const n = 48_017; // 188 workgroups of 256
        const X = f32(rng.normals(n, 3));
        const G = f32(rng.normals(n));
        const g = param(gpu, X, [n]);
        const gy = ops.gelu(g);
        backward(gy, fromArray(gpu, G, [n]));
        expect(`gelu forward n=${n}`, await gy.readF32(), geluRef(X), TOL_ELEMENTWISE);
        expect(`gelu backward n=${n}`, await grad(g), geluBackwardRef(X, G), TOL_ELEMENTWISE);
        expect(`sum n=${n} (12 partials)`, await ops.sum(fromArray(gpu, X, [n])).readF32(), [sumRef(X)], TOL_REDUCE);
      });
    } finally {
      gpu.maxGridX = saved;
    }
  },
};

export const opChecks: Check[] = [
  matmulCheck,
  elementwiseCheck,
  layernormCheck,
  attentionCheck,
  groupedAttentionCheck,
  reduceCheck,
  foldedGridCheck,
];
