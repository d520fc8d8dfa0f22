// Self-checks of every op: GPU forward and backward against the f64 references, on odd shapes
// (1, 7, 33, 65: not multiples of any workgroup size).

import { Rng } from '../util/rng';
import { backward, fromArray, tidyAsync, type Tensor } from '../tensor';
import * as ops from '../tensor';
import type { Gpu } from '../gpu/runtime';
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
import {
  layernormRef,
  layernormBackwardRef,
  attentionRef,
  attentionBackwardRef,
  crossEntropyRef,
  embeddingRef,
  embeddingBackwardRef,
} from '../reference/nn';
import { differingElements, f32, type Tolerance, EXACT_COUNT } from './compare';
import type { Check } from './harness';

export const TOL_EXACT: Tolerance = { atol: 1e-6, rtol: 1e-6 };
export const TOL_ELEMENTWISE: Tolerance = { atol: 1e-6, rtol: 1e-5 };
export const TOL_REDUCE: Tolerance = { atol: 1e-5, rtol: 1e-4 };

/** A trainable GPU tensor holding f32-rounded copies of `x`. */
export function param(gpu: Gpu, x: Float64Array, shape: number[]): Tensor {
  const t = fromArray(gpu, x, shape);
  t.requiresGrad = true;
  return t;
}

async function grad(t: Tensor): Promise<Float32Array> {
  if (!t.grad) throw new Error(`tensor [${t.shape.join(', ')}] got no gradient`);
  return t.grad.readF32();
}

const matmulCheck: Check = {
  name: 'matmul',
  kernels: ['matmul', 'colsum'],
  async run({ gpu, expect }) {
    const rng = new Rng(1);
    // The last two span several 256-row chunks and ragged 64-column tiles of the bias-gradient column sum.
    const cases: [number, number, number, number][] = [
      [1, 1, 1, 1],
      [7, 33, 65, 1],
      [65, 7, 33, 1],
      [33, 65, 7, 1],
      [7, 5, 9, 3],
      [520, 70, 3, 1],
      [150, 129, 2, 4],
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

type Ctx = Parameters<Check['run']>[0];

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
): Promise<void> {
  await tidyAsync(async () => {
    const X = f32(rng.normals(rows * C, 2).map((v) => v + 1));
    const W = f32(rng.normals(C).map((v) => 1 + 0.1 * v));
    const Bv = f32(rng.normals(C, 0.1));
    const G = f32(rng.normals(rows * C));
    const x = param(gpu, X, [rows, C]);
    const w = param(gpu, W, [C]);
    const b = param(gpu, Bv, [C]);
    const y = ops.layernorm(x, w, b, { half });
    backward(y, fromArray(gpu, G, y.shape));
    const tag = `${half ? 'f16 ' : ''}${rows}×${C}`;
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
    expect(`dx ${tag}`, await grad(x), ref.dx, C === 1 ? { atol: 1e-3, rtol: 1e-3 } : TOL_REDUCE);
    expect(`dw ${tag}`, await grad(w), ref.dw, TOL_REDUCE);
    expect(`db ${tag}`, await grad(b), ref.db, TOL_REDUCE);
  });
}

/** One attention case: forward and dqkv. */
async function attentionCase(
  { gpu, expect }: Ctx,
  rng: Rng,
  B: number,
  T: number,
  H: number,
  D: number,
): Promise<void> {
  await tidyAsync(async () => {
    const C = H * D;
    const QKV = f32(rng.normals(B * T * 3 * C));
    const G = f32(rng.normals(B * T * C));
    const qkv = param(gpu, QKV, [B, T, 3 * C]);
    const out = ops.attention(qkv, H);
    backward(out, fromArray(gpu, G, out.shape));
    const tag = `B=${B} T=${T} H=${H} D=${D}`;
    expect(`forward ${tag}`, await out.readF32(), attentionRef(QKV, B, T, H, D).out, TOL_REDUCE);
    expect(`dqkv ${tag}`, await grad(qkv), attentionBackwardRef(QKV, G, B, T, H, D), TOL_REDUCE);
  });
}

/** One cross-entropy case, every fifth row ignored, with a non-unit upstream gradient (it must scale the result). */
async function crossEntropyCase({ gpu, expect }: Ctx, rng: Rng, N: number, V: number): Promise<void> {
  await tidyAsync(async () => {
    const Z = f32(rng.normals(N * V, 3));
    const targets = Int32Array.from({ length: N }, (_, i) => (i % 5 === 3 ? ops.IGNORE_INDEX : rng.int(V)));
    const z = param(gpu, Z, [N, V]);
    const loss = ops.crossEntropy(z, targets);
    backward(loss, fromArray(gpu, [0.75], [1]));
    const ref = crossEntropyRef(Z, targets, N, V);
    const tag = `N=${N} V=${V}`;
    expect(`loss ${tag}`, await loss.readF32(), [ref.loss], TOL_REDUCE);
    expect(
      `dlogits ${tag}`,
      await grad(z),
      ref.dlogits.map((v) => 0.75 * v),
      TOL_REDUCE,
    );
  });
}

/** One embedding case: forward, the token table's gradient (grouped by token id on the host) and the positions'. */
async function embeddingCase(
  { gpu, expect }: Ctx,
  rng: Rng,
  tokens: Int32Array,
  B: number,
  T: number,
  C: number,
  V: number,
  P: number,
): Promise<void> {
  await tidyAsync(async () => {
    const TABLE = f32(rng.normals(V * C));
    const POSITIONS = f32(rng.normals(P * C));
    const G = f32(rng.normals(B * T * C));
    const table = param(gpu, TABLE, [V, C]);
    const positions = param(gpu, POSITIONS, [P, C]);
    const out = ops.embedding(tokens, B, T, table, positions);
    backward(out, fromArray(gpu, G, out.shape));
    const tag = `B=${B} T=${T} C=${C} V=${V}`;
    expect(`forward ${tag}`, await out.readF32(), embeddingRef(tokens, B, T, TABLE, POSITIONS, C), TOL_EXACT);
    const ref = embeddingBackwardRef(tokens, B, T, G, V, P, C);
    expect(`dTable ${tag}`, await grad(table), ref.dTable, TOL_REDUCE);
    expect(`dPositions ${tag}`, await grad(positions), ref.dPositions, TOL_REDUCE);
  });
}

const layernormCheck: Check = {
  name: 'layernorm',
  kernels: ['layernorm_forward', 'layernorm_backward', 'layernorm_backward_params'],
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

const crossEntropyCheck: Check = {
  name: 'cross-entropy',
  kernels: ['crossentropy_forward', 'crossentropy_mean', 'crossentropy_backward'],
  async run(ctx) {
    const rng = new Rng(5);
    // The last case is GPT-2's vocabulary: 197 strided passes per thread over a row.
    for (const [N, V] of [
      [1, 1],
      [1, 5],
      [7, 65],
      [33, 300],
      [65, 1000],
      [3, 50257],
    ] as const)
      await crossEntropyCase(ctx, rng, N, V);
    const { gpu, expect } = ctx;
    await tidyAsync(async () => {
      const z = param(gpu, f32(rng.normals(6)), [2, 3]);
      const loss = ops.crossEntropy(z, Int32Array.from([-1, -100]));
      backward(loss);
      expect('all rows ignored: loss 0', await loss.readF32(), [0], TOL_EXACT);
      expect('all rows ignored: no gradient', await grad(z), new Float64Array(6), TOL_EXACT);
    });
  },
};

const embeddingCheck: Check = {
  name: 'embedding',
  kernels: ['embedding_forward', 'embedding_backward_tokens', 'embedding_backward_positions'],
  async run(ctx) {
    const rng = new Rng(6);
    for (const [B, T, C, V, P] of [
      [1, 1, 1, 1, 1],
      [2, 7, 33, 5, 9],
      [3, 33, 7, 65, 40],
    ] as const) {
      const tokens = Int32Array.from({ length: B * T }, () => rng.int(V)); // V < B·T: ids repeat
      await embeddingCase(ctx, rng, tokens, B, T, C, V, P);
    }
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

const headCheck: Check = {
  name: 'tied head + cross-entropy (chunked)',
  kernels: ['matmul', 'crossentropy_forward', 'crossentropy_mean', 'crossentropy_backward'],
  async run({ gpu, expect }) {
    const rng = new Rng(9);
    // 150 rows in chunks of 64: two full chunks and a partial one; every seventh row ignored. Each case twice: the
    // gradients recomputed in backward, and made in the forward pass for a seed given up front (a training step).
    for (const [N, C, V, chunkRows] of [
      [150, 12, 37, 64],
      [5, 8, 300, 64],
      [130, 16, 3001, 128],
    ] as const) {
      for (const early of [false, true])
        await tidyAsync(async () => {
          const X = f32(rng.normals(N * C));
          const W = f32(rng.normals(V * C, 0.5));
          const targets = Int32Array.from({ length: N }, (_, i) => (i % 7 === 6 ? -100 : rng.int(V)));
          const x = param(gpu, X, [N, C]);
          const w = param(gpu, W, [V, C]);
          const seed = fromArray(gpu, [1.5], [1]);
          const loss = ops.headCrossEntropy(x, w, targets, { chunkRows, seed: early ? seed : undefined });
          backward(loss, seed);
          const dims = { M: N, N: V, K: C, batch: 1, transA: false, transB: true };
          const logits = matmulRef(X, W, null, dims);
          const ce = crossEntropyRef(logits, targets, N, V);
          const mm = matmulBackwardRef(
            X,
            W,
            ce.dlogits.map((v) => 1.5 * v),
            dims,
          );
          const tag = `N=${N} C=${C} V=${V} chunk=${chunkRows}${early ? ' (gradients in forward)' : ''}`;
          expect(`loss ${tag}`, await loss.readF32(), [ce.loss], TOL_REDUCE);
          expect(`dx ${tag}`, await grad(x), mm.dA, TOL_REDUCE);
          expect(`dw ${tag}`, await grad(w), mm.dB, TOL_REDUCE);
        });
    }
  },
};

/**
 * Folded 2-D grids: row and element counts past the grid's x limit, so kernels see x·y > count workgroups and must
 * ignore the surplus. The limit is lowered to a prime (the logic does not depend on its value; reaching the real
 * 65535 costs minutes per kernel on a software adapter), plus one real case past 65535 workgroups for add.
 */
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
  crossEntropyCheck,
  embeddingCheck,
  reduceCheck,
  headCheck,
  foldedGridCheck,
];
