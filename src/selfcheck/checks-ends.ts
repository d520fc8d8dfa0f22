// Self-checks of a model's two ends: the token (+ position) embedding, the head fused with cross-entropy over row
// chunks, and plain cross-entropy; GPU forward and backward against the f64 references, on odd shapes and on GPT-2's
// vocabulary.

import * as ops from '../tensor';
import { backward, fromArray, tidyAsync } from '../tensor';
import { Rng } from '../util/rng';
import { roundToHalf } from '../util/half';
import { launchToHalf } from '../tensor/ops/cast';
import { matmulBackwardRef, matmulRef } from '../reference/linalg';
import {
  crossEntropyRef,
  distillRef,
  embeddingBackwardRef,
  embeddingRef,
  hiddenCosineRef,
  tokenScoresRef,
} from '../reference/nn';
import { EXACT_COUNT, f32 } from './compare';
import type { Check } from './harness';
import { type Ctx, grad, param, TOL_EXACT, TOL_REDUCE } from './support';

export async function crossEntropyCase({ gpu, expect }: Ctx, rng: Rng, N: number, V: number): Promise<void> {
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
export async function embeddingCase(
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
    // The log-sum-exp is taken in one read (a running maximum per thread, its sum rescaled as the maximum grows):
    // rows that rise along the row (every element a new maximum for its thread), fall, or hold one far outlier, with
    // logits in the hundreds, must still match the two-pass f64 reference.
    await tidyAsync(async () => {
      const [N, V] = [4, 2000];
      const Z = f32(
        Float64Array.from({ length: N * V }, (_, i) => {
          const [r, v] = [Math.floor(i / V), i % V];
          if (r === 0) return -300 + 0.3 * v;
          if (r === 1) return 300 - 0.3 * v;
          if (r === 2) return v === 1234 ? 250 : Math.sin(v);
          return 90 * Math.sin(v * 0.37);
        }),
      );
      const targets = Int32Array.from([1999, 0, 1234, 17]);
      const z = param(gpu, Z, [N, V]);
      const loss = ops.crossEntropy(z, targets);
      backward(loss);
      const ref = crossEntropyRef(Z, targets, N, V);
      expect('extreme rows: loss', await loss.readF32(), [ref.loss], TOL_REDUCE);
      expect('extreme rows: dlogits', await grad(z), ref.dlogits, TOL_REDUCE);
    });
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

/** Elements where two arrays differ (0 when they are equal element for element). */
const differing = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let n = Math.abs(a.length - b.length);
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) n++;
  return n;
};

const headCheck: Check = {
  name: 'tied head + cross-entropy (chunked)',
  kernels: ['matmul', 'crossentropy_forward', 'crossentropy_mean', 'crossentropy_backward', 'crossentropy_seeded'],
  async run({ gpu, expect }) {
    const rng = new Rng(9);
    // 150 rows in chunks of 64: two full chunks and a partial one; every seventh row ignored. Each case twice: the
    // gradients recomputed in backward, and made in the forward pass for a seed given up front (a training step, one
    // crossentropy_seeded dispatch per chunk): the two agree bit for bit.
    for (const [N, C, V, chunkRows] of [
      [150, 12, 37, 64],
      [5, 8, 300, 64],
      [130, 16, 3001, 128],
    ] as const) {
      const X = f32(rng.normals(N * C));
      const W = f32(rng.normals(V * C, 0.5));
      const targets = Int32Array.from({ length: N }, (_, i) => (i % 7 === 6 ? -100 : rng.int(V)));
      const dims = { M: N, N: V, K: C, batch: 1, transA: false, transB: true };
      const ce = crossEntropyRef(matmulRef(X, W, null, dims), targets, N, V);
      const mm = matmulBackwardRef(
        X,
        W,
        ce.dlogits.map((v) => 1.5 * v),
        dims,
      );
      const got: (readonly Float32Array[])[] = [];
      for (const early of [false, true])
        await tidyAsync(async () => {
          const x = param(gpu, X, [N, C]);
          const w = param(gpu, W, [V, C]);
          const seed = fromArray(gpu, [1.5], [1]);
          const loss = ops.headCrossEntropy(x, w, targets, { chunkRows, seed: early ? seed : undefined });
          backward(loss, seed);
          const tag = `N=${N} C=${C} V=${V} chunk=${chunkRows}${early ? ' (gradients in forward)' : ''}`;
          const values = [await loss.readF32(), await grad(x), await grad(w)] as const;
          got.push(values);
          expect(`loss ${tag}`, values[0], [ce.loss], TOL_REDUCE);
          expect(`dx ${tag}`, values[1], mm.dA, TOL_REDUCE);
          expect(`dw ${tag}`, values[2], mm.dB, TOL_REDUCE);
        });
      for (const [i, what] of ['loss', 'dx', 'dw'].entries())
        expect(
          `N=${N} V=${V}: ${what} elements differing between the seeded pass and the recomputing backward`,
          [differing(got[0]![i]!, got[1]![i]!)],
          [0],
          EXACT_COUNT,
        );
    }
  },
};

/**
 * f16-mixed's tensor-core head: x as halves, the head matrix as an f16 copy padded with zero rows to whole 64-row
 * tiles, dlogits written as halves (crossentropy_seeded_f16); on tensor cores where the device has them. Against f64
 * on the same halves, dlogits rounded to halves as the kernel stores them; V = 100 pads to 128 rows, two chunks of 64.
 */
const halfHeadCheck: Check = {
  name: 'tied head on an f16 copy (f16-mixed)',
  kernels: ['matmul', 'to_half', 'crossentropy_seeded_f16', 'crossentropy_mean'],
  async run({ gpu, expect }) {
    const rng = new Rng(12);
    const [N, C, V, g] = [128, 64, 100, 1.5];
    const X = f32(rng.normals(N * C));
    const W = f32(rng.normals(V * C, 0.5));
    const targets = Int32Array.from({ length: N }, (_, i) => (i % 7 === 6 ? -100 : rng.int(V)));
    const Xh = Float64Array.from(roundToHalf(X));
    const Wh = Float64Array.from(roundToHalf(W));
    const dims = { M: N, N: V, K: C, batch: 1, transA: false, transB: true };
    const ce = crossEntropyRef(matmulRef(Xh, Wh, null, dims), targets, N, V);
    const mm = matmulBackwardRef(Xh, Wh, Float64Array.from(roundToHalf(ce.dlogits.map((v) => g * v))), dims);
    await tidyAsync(async () => {
      const x = param(gpu, X, [N, C]);
      const w = param(gpu, W, [V, C]);
      const half = ops.zeros(gpu, [ops.paddedVocab(V), C], 'f16');
      launchToHalf(gpu, w.view, half.view, V * C);
      const seed = fromArray(gpu, [g], [1]);
      const loss = ops.headCrossEntropy(ops.toHalf(x), w, targets, { chunkRows: 64, seed, half });
      backward(loss, seed);
      const tag = `N=${N} C=${C} V=${V} (padded to ${ops.paddedVocab(V)})`;
      expect(`loss ${tag}`, await loss.readF32(), [ce.loss], TOL_REDUCE);
      expect(`dx ${tag}`, await grad(x), mm.dA, TOL_REDUCE);
      expect(`dw ${tag}`, await grad(w), mm.dB, TOL_REDUCE);
    });
  },
};

/**
 * Folded 2-D grids: row and element counts past the grid's x limit, so kernels see x·y > count workgroups and must
 * ignore the surplus. The limit is lowered to a prime (the logic does not depend on its value; reaching the real
 * 65535 costs minutes per kernel on a software adapter), plus one real case past 65535 workgroups for add.
 */

const tokenScoresCheck: Check = {
  name: 'head token scores (chunked)',
  kernels: ['matmul', 'token_scores'],
  async run({ gpu, expect }) {
    const rng = new Rng(10);
    for (const [N, C, V, chunkRows] of [
      [150, 12, 37, 64],
      [3, 8, 50257, 64],
    ] as const) {
      await tidyAsync(async () => {
        // Whole-number weights and inputs give exact logits, and ties: a row's maximum often repeats (first wins).
        const X = Float32Array.from({ length: N * C }, () => rng.int(3) - 1);
        const W = Float32Array.from({ length: V * C }, () => rng.int(3) - 1);
        const logits = matmulRef(Float64Array.from(X), Float64Array.from(W), null, {
          M: N,
          N: V,
          K: C,
          batch: 1,
          transA: false,
          transB: true,
        });
        // Targets: the row's first argmax, a later tied index where there is one, or any index; some ignored.
        const targets = Int32Array.from({ length: N }, (_, i) => {
          if (i % 7 === 6) return -100;
          const row = logits.subarray(i * V, (i + 1) * V);
          let mx = row[0]!;
          for (const z of row) mx = Math.max(mx, z);
          const tied: number[] = [];
          row.forEach((z, v) => {
            if (z === mx) tied.push(v);
          });
          return i % 3 === 0 ? tied[0]! : i % 3 === 1 ? (tied[1] ?? tied[0]!) : rng.int(V);
        });
        const x = fromArray(gpu, X, [N, C]);
        const w = fromArray(gpu, W, [V, C]);
        const { logp, top1 } = ops.headTokenScores(x, w, targets, { chunkRows });
        const ref = tokenScoresRef(logits, targets, N, V);
        const tag = `N=${N} C=${C} V=${V} chunk=${chunkRows}`;
        expect(`top1 ${tag}`, await top1.readF32(), ref.top1, TOL_EXACT);
        expect(`logp ${tag}`, await logp.readF32(), ref.logp, TOL_REDUCE);
        // −logp is the head cross-entropy's row loss: their mean is its loss.
        const ce = ops.noGrad(() => ops.headCrossEntropy(x, w, targets, { chunkRows }));
        const got = await logp.readF32();
        const n = targets.filter((t) => t >= 0).length;
        expect(`mean −logp = head loss ${tag}`, [-got.reduce((a, v) => a + v, 0) / n], await ce.readF32(), TOL_REDUCE);
      });
    }
  },
};

const distillCheck: Check = {
  name: 'head distillation (chunked)',
  kernels: ['matmul', 'distill_head', 'crossentropy_mean'],
  async run({ gpu, expect }) {
    const rng = new Rng(11);
    // The teacher is wider than the student (its own C); 150 rows in chunks of 64, every seventh ignored.
    for (const [N, C, Ct, V, chunkRows, alpha, tau] of [
      [150, 12, 20, 37, 64, 0.5, 2],
      [5, 8, 8, 300, 64, 0.1, 0.8],
      [3, 8, 16, 4099, 64, 0.7, 3],
    ] as const) {
      await tidyAsync(async () => {
        const X = f32(rng.normals(N * C));
        const W = f32(rng.normals(V * C, 0.5));
        const XT = f32(rng.normals(N * Ct));
        const WT = f32(rng.normals(V * Ct, 0.5));
        const targets = Int32Array.from({ length: N }, (_, i) => (i % 7 === 6 ? -100 : rng.int(V)));
        const x = param(gpu, X, [N, C]);
        const w = param(gpu, W, [V, C]);
        const teacher = { x: fromArray(gpu, XT, [N, Ct]), w: fromArray(gpu, WT, [V, Ct]) };
        const seed = fromArray(gpu, [1.5], [1]);
        const loss = ops.headDistill(x, w, targets, teacher, { alpha, tau, seed, chunkRows });
        backward(loss, seed);
        const dims = { M: N, N: V, K: C, batch: 1, transA: false, transB: true };
        const logits = matmulRef(X, W, null, dims);
        const tlogits = matmulRef(XT, WT, null, { ...dims, K: Ct });
        const kd = distillRef(logits, tlogits, targets, N, V, alpha, tau);
        const mm = matmulBackwardRef(
          X,
          W,
          kd.dlogits.map((v) => 1.5 * v),
          dims,
        );
        const tag = `N=${N} C=${C} teacher C=${Ct} V=${V} α=${alpha} τ=${tau}`;
        expect(`loss ${tag}`, await loss.readF32(), [kd.loss], TOL_REDUCE);
        expect(`dx ${tag}`, await grad(x), mm.dA, TOL_REDUCE);
        expect(`dw ${tag}`, await grad(w), mm.dB, TOL_REDUCE);
      });
    }
    // α = 1 is the seeded head cross-entropy, bit for bit: loss, dx and dw.
    await tidyAsync(async () => {
      const [N, C, V] = [130, 16, 301];
      const X = f32(rng.normals(N * C));
      const W = f32(rng.normals(V * C, 0.5));
      const targets = Int32Array.from({ length: N }, (_, i) => (i % 9 === 4 ? -100 : rng.int(V)));
      const teacher = {
        x: fromArray(gpu, f32(rng.normals(N * 8)), [N, 8]),
        w: fromArray(gpu, f32(rng.normals(V * 8)), [V, 8]),
      };
      const run = async (kd: boolean) => {
        const x = param(gpu, X, [N, C]);
        const w = param(gpu, W, [V, C]);
        const seed = fromArray(gpu, [0.75], [1]);
        const loss = kd
          ? ops.headDistill(x, w, targets, teacher, { alpha: 1, tau: 2, seed, chunkRows: 64 })
          : ops.headCrossEntropy(x, w, targets, { seed, chunkRows: 64 });
        backward(loss, seed);
        return [await loss.readF32(), await grad(x), await grad(w)] as const;
      };
      const [plain, distilled] = [await run(false), await run(true)];
      for (const [i, what] of ['loss', 'dx', 'dw'].entries())
        expect(
          `α = 1: ${what} elements differing from the head cross-entropy's`,
          [differing(distilled[i]!, plain[i]!)],
          [0],
          EXACT_COUNT,
        );
    });
  },
};

/**
 * kd-hidden's side loss on the residual stream: y = x passed on to the head (cross-entropy), the cosine term's loss
 * reported apart, and x's gradient = the head's + seed·the term's. On a leaf x (the gradient accumulates) and on an
 * intermediate one (written over fresh storage); rows wider than a workgroup; some targets ignored.
 */
const hiddenCosineCheck: Check = {
  name: 'hidden-state cosine (kd-hidden)',
  kernels: ['hidden_cosine_forward', 'hidden_cosine_backward', 'crossentropy_mean'],
  async run({ gpu, expect }) {
    const rng = new Rng(12);
    for (const [N, C, V, scale, inner] of [
      [150, 12, 37, 1, false],
      [70, 300, 11, 0.25, true],
      [4, 8, 5, 2, true],
    ] as const) {
      await tidyAsync(async () => {
        const S = f32(rng.normals(N * C));
        const Tt = f32(rng.normals(N * C, 0.5).map((v, i) => v + 0.3 * S[i]!));
        const W = f32(rng.normals(V * C, 0.5));
        const targets = Int32Array.from({ length: N }, (_, i) => (i % 7 === 6 ? -100 : rng.int(V)));
        const x0 = param(gpu, S, [N, C]);
        const x = inner ? ops.scale(x0, 1) : x0;
        const seed = fromArray(gpu, [1.5], [1]);
        const teacher = fromArray(gpu, Tt, [N, C]);
        const { y, loss } = ops.hiddenCosine(x, teacher, targets, { scale, seed, vocab: V });
        teacher.dispose(); // the op keeps what backward reads
        const w = fromArray(gpu, W, [V, C]);
        backward(ops.headCrossEntropy(y, w, targets), seed);
        const dims = { M: N, N: V, K: C, batch: 1, transA: false, transB: true };
        const ce = crossEntropyRef(matmulRef(S, W, null, dims), targets, N, V);
        const head = matmulBackwardRef(S, W, ce.dlogits, dims).dA;
        const ref = hiddenCosineRef(S, Tt, targets, N, C, V, scale);
        const tag = `N=${N} C=${C} scale=${scale}${inner ? ' (intermediate x)' : ''}`;
        expect(`loss ${tag}`, await loss.readF32(), [ref.loss], TOL_REDUCE);
        expect(
          `dx ${tag}`,
          await grad(x0),
          head.map((v, i) => 1.5 * (v + ref.ds[i]!)),
          TOL_REDUCE,
        );
      });
    }
  },
};

export const endChecks: Check[] = [
  crossEntropyCheck,
  embeddingCheck,
  headCheck,
  halfHeadCheck,
  tokenScoresCheck,
  distillCheck,
  hiddenCosineCheck,
];
