// Tensors and the tape on the real adapter: gradient accumulation, shared inputs, no-grad mode, lifetimes.

import { describe, expect, it } from 'vitest';
import {
  add,
  backward,
  empty,
  fromArray,
  gelu,
  headCrossEntropy,
  layernorm,
  matmul,
  noGrad,
  reshape,
  scale,
  sum,
  tape,
  tidy,
  tidyAsync,
  toHalf,
} from '../../src/tensor';
import type { BackwardTable } from '../../src/tensor/tape';
import { SAVED } from '../../src/tensor/opkinds';
import { Tensor as TensorClass } from '../../src/tensor/tensor';
import { backwardRules } from '../../src/tensor/backward';
import { launchColsums } from '../../src/tensor/ops/colsum';
import { acquireNodeDevice } from '../../src/gpu/node';
import { Gpu } from '../../src/gpu/runtime';
import { getGpu, leaf } from './gpu';

describe('autograd', () => {
  it('accumulates gradients across backward passes (micro-batches) until cleared', async () => {
    const gpu = await getGpu();
    await tidyAsync(async () => {
      const x = leaf(fromArray(gpu, [1, -2, 3], [3]));
      for (let i = 0; i < 3; i++) backward(sum(scale(x, 2)));
      expect(Array.from(await x.grad!.readF32())).toEqual([6, 6, 6]);
      gpu.clear(x.grad!.view);
      backward(sum(scale(x, 2)));
      expect(Array.from(await x.grad!.readF32())).toEqual([2, 2, 2]);
    });
  });

  it('uses the head gradients made in forward only for the seed they were made for', async () => {
    const gpu = await getGpu();
    await tidyAsync(async () => {
      const [N, C, V] = [70, 8, 50];
      const X = Array.from({ length: N * C }, (_, i) => Math.sin(i));
      const W = Array.from({ length: V * C }, (_, i) => Math.cos(i * 0.7));
      const targets = Int32Array.from({ length: N }, (_, i) => (i * 13) % V);
      const grads = async (forwardSeed: number | null, backwardSeed: number) => {
        const x = leaf(fromArray(gpu, X, [N, C]));
        const w = leaf(fromArray(gpu, W, [V, C]));
        const s = fromArray(gpu, [backwardSeed], [1]);
        const early =
          forwardSeed === null ? undefined : forwardSeed === backwardSeed ? s : fromArray(gpu, [forwardSeed], [1]);
        const loss = headCrossEntropy(x, w, targets, { chunkRows: 64, seed: early });
        const before = gpu.dispatchCount;
        backward(loss, s);
        return {
          grads: [await x.grad!.readF32(), await w.grad!.readF32()],
          backwardDispatches: gpu.dispatchCount - before,
        };
      };
      const recomputed = await grads(null, 2);
      // Made in forward for this seed: backward only adds them (two dispatches), and with fresh (zero) gradients the
      // bits equal the recomputed ones (both sum the chunks from zero).
      const early = await grads(2, 2);
      expect(early.backwardDispatches).toBe(2);
      expect(recomputed.backwardDispatches).toBeGreaterThan(2);
      expect(early.grads).toEqual(recomputed.grads);
      // Made for a seed of 3, but backward is seeded with 2: recomputed for 2, not the stale ones scaled by 3.
      const stale = await grads(3, 2);
      expect(stale.backwardDispatches).toBe(recomputed.backwardDispatches);
      expect(stale.grads).toEqual(recomputed.grads);
    });
  });

  it('sums the gradients of a tensor used twice', async () => {
    const gpu = await getGpu();
    await tidyAsync(async () => {
      const x = leaf(fromArray(gpu, [0.5, 1.5], [2]));
      backward(sum(add(x, scale(x, 3))));
      expect(Array.from(await x.grad!.readF32())).toEqual([4, 4]);
    });
  });

  it('gives an intermediate its first gradient without a zero fill, moving a pass-through gradient in', async () => {
    const gpu = await getGpu();
    await tidyAsync(async () => {
      const a = leaf(fromArray(gpu, [1, 2, 3, 4], [4]));
      const b = leaf(fromArray(gpu, [5, 6, 7, 8], [4]));
      const seed = fromArray(gpu, [0.5, -1, 2, 4], [4]);
      // Backward of reshape(add(reshape(a), reshape(b))): the outer reshape copies the seed (the caller's, never
      // moved) into a fresh gradient; add moves that into its first input's and copies it into its second; the inner
      // reshapes add into the leaves: 4 dispatches and no zero fill of an intermediate (before: 5, and 3 more fills).
      const y = reshape(add(reshape(a, [2, 2]), reshape(b, [2, 2])), [4]);
      const [d0, c0] = [gpu.dispatchCount, gpu.clearCount];
      backward(y, seed);
      expect(gpu.clearCount - c0).toBe(2); // the leaves' own gradients, allocated as zeros the first time
      expect(gpu.dispatchCount - d0).toBe(4);
      expect(Array.from(await a.grad!.readF32())).toEqual([0.5, -1, 2, 4]);
      expect(Array.from(await b.grad!.readF32())).toEqual([0.5, -1, 2, 4]);
      expect(Array.from(await seed.readF32())).toEqual([0.5, -1, 2, 4]); // the seed itself untouched
    });
  });

  it('sums a split-K weight gradient with its bias gradient, and the two LayerNorm parameter gradients, in shared dispatches', async () => {
    const gpu = await getGpu();
    await tidyAsync(async () => {
      // 2100 rows: dW's product (K = 2100) splits into 2 parts, and db spans 9 row chunks (partials, then their sum).
      const [R, Cin, Cout] = [2100, 5, 3];
      const x = leaf(
        fromArray(
          gpu,
          Array.from({ length: R * Cin }, (_, i) => Math.sin(i)),
          [R, Cin],
        ),
      );
      const w = leaf(
        fromArray(
          gpu,
          Array.from({ length: Cin * Cout }, (_, i) => Math.cos(i)),
          [Cin, Cout],
        ),
      );
      const b = leaf(fromArray(gpu, [0.1, 0.2, 0.3], [Cout]));
      const y = matmul(x, w, { bias: b });
      const seed = fromArray(
        gpu,
        Array.from({ length: R * Cout }, (_, i) => Math.sin(i * 0.3)),
        [R, Cout],
      );
      let d0 = gpu.dispatchCount;
      backward(y, seed);
      // dX, dW's parts, and at the end of backward two column-sum dispatches: [dW's sum + db's partials] then db's
      // sum, or (dW's parts in the arena) db's partials then [dW's sum + db's sum] in a table: 4 (5 when each column
      // sum had dispatches of its own).
      expect(gpu.dispatchCount - d0).toBe(4);
      const G = await seed.readF32();
      const db = Array.from({ length: Cout }, (_, n) => {
        let s = 0;
        for (let r = 0; r < R; r++) s += G[r * Cout + n]!;
        return s;
      });
      const got = await b.grad!.readF32();
      for (let n = 0; n < Cout; n++) expect(got[n]!).toBeCloseTo(db[n]!, 3);

      // LayerNorm over 600 rows (3 chunks): dx and the parameter partials in one dispatch, then one sum for both
      // gradients: 2 (was 4).
      const C = 7;
      const h = leaf(
        fromArray(
          gpu,
          Array.from({ length: 600 * C }, (_, i) => Math.sin(i * 0.7)),
          [600, C],
        ),
      );
      const g = leaf(
        fromArray(
          gpu,
          Array.from({ length: C }, (_, i) => 1 + i / 10),
          [C],
        ),
      );
      const beta = leaf(fromArray(gpu, new Array(C).fill(0), [C]));
      const ln = layernorm(h, g, beta);
      const lseed = fromArray(
        gpu,
        Array.from({ length: 600 * C }, (_, i) => Math.cos(i * 0.2)),
        [600, C],
      );
      d0 = gpu.dispatchCount;
      backward(ln, lseed);
      expect(gpu.dispatchCount - d0).toBe(2);
      const LG = await lseed.readF32();
      const dbeta = Array.from({ length: C }, (_, c) => {
        let s = 0;
        for (let r = 0; r < 600; r++) s += LG[r * C + c]!;
        return s;
      });
      const gotBeta = await beta.grad!.readF32();
      for (let c = 0; c < C; c++) expect(gotBeta[c]!).toBeCloseTo(dbeta[c]!, 3);
    });
  });

  it('gives a column sum the same bits alone and grouped with three others in one dispatch', async () => {
    const gpu = await getGpu();
    await tidyAsync(async () => {
      // [R, N, accumulate]: 3 chunks with ragged tiles, one chunk, 2 chunks, a single element.
      const shapes = [
        [700, 70, true],
        [90, 130, false],
        [300, 5, true],
        [1, 1, false],
      ] as const;
      const xs = shapes.map(([R, N], k) =>
        fromArray(
          gpu,
          Array.from({ length: R * N }, (_, i) => Math.sin(i * (0.37 + k)) * 3),
          [R, N],
        ),
      );
      const run = async (grouped: boolean) => {
        const outs = shapes.map(([, N]) => fromArray(gpu, new Array(N).fill(0.5), [N]));
        const jobs = shapes.map(([R, N, accumulate], k) => ({ x: xs[k]!.view, out: outs[k]!.view, R, N, accumulate }));
        const d0 = gpu.dispatchCount;
        if (grouped) launchColsums(gpu, jobs);
        else for (const j of jobs) launchColsums(gpu, [j]);
        return { dispatches: gpu.dispatchCount - d0, sums: await Promise.all(outs.map((o) => o.readF32())) };
      };
      const alone = await run(false);
      const grouped = await run(true);
      // Alone 2 + 1 + 2 + 1 stages; grouped, the four first stages in one dispatch and the two last in another.
      expect([alone.dispatches, grouped.dispatches]).toEqual([6, 2]);
      expect(grouped.sums).toEqual(alone.sums);
      for (const [k, [R, N, accumulate]] of shapes.entries()) {
        const X = await xs[k]!.readF32();
        for (const n of [0, N - 1]) {
          let s = accumulate ? 0.5 : 0;
          for (let r = 0; r < R; r++) s += X[r * N + n]!;
          expect(grouped.sums[k]![n]!, `job ${k} column ${n}`).toBeCloseTo(s, 3);
        }
      }
    });
  });

  it("groups the parameters' column-sum stages at the end of backward, never two into one gradient", async () => {
    const gpu = await getGpu();
    await tidyAsync(async () => {
      // Bias b serves two products, c a third: over 600 rows (3 chunks) each bias gradient takes two stages, and b's
      // two last stages may not share a dispatch (both add into b's gradient).
      const R = 600;
      const mk = (n: number, k: number, f: number) =>
        leaf(
          fromArray(
            gpu,
            Array.from({ length: n * k }, (_, i) => Math.sin(i * f)),
            [n, k],
          ),
        );
      const [x1, x2, x3] = [mk(R, 3, 0.1), mk(R, 3, 0.2), mk(R, 3, 0.3)];
      const [w1, w2, w3] = [mk(3, 2, 0.4), mk(3, 2, 0.5), mk(3, 2, 0.6)];
      const b = leaf(fromArray(gpu, [0, 0], [2]));
      const c = leaf(fromArray(gpu, [0, 0], [2]));
      const seed = fromArray(gpu, new Array(R * 2).fill(0.5), [R, 2]);
      const pass = (): number => {
        const y = add(add(matmul(x1, w1, { bias: b }), matmul(x2, w2, { bias: b })), matmul(x3, w3, { bias: c }));
        let colsums = 0;
        const dispatch = gpu.dispatch.bind(gpu);
        gpu.dispatch = (spec, ...rest) => {
          if (spec.name === 'colsum' || spec.name === 'colsum_table') colsums++;
          dispatch(spec, ...rest);
        };
        try {
          backward(y, seed);
        } finally {
          gpu.dispatch = dispatch;
        }
        return colsums;
      };
      // The first pass sizes the column sums' arena for the second. Every bias gradient waits (its input, the
      // product's output gradient, stays as it is): at the end the 3 first stages share a dispatch (each writes
      // partials of its own), then [b's last + c's last] and [b's other last]: 3 (6 without the waiting and grouping).
      pass();
      expect(pass()).toBe(3);
      expect(Array.from(await b.grad!.readF32())).toEqual([1200, 1200]); // 2 passes · 2 · 600 · 0.5, exact in f32
      expect(Array.from(await c.grad!.readF32())).toEqual([600, 600]);
    });
  });

  it('adds into a shared gradient in the same order on a fresh device as on a warm one: the bits depend on shapes alone', async () => {
    // Bias b serves a product whose output gradient goes on as the residual's (its sum cannot wait: 600 rows, a
    // first stage now and a last one that waits) and one whose sum waits whole (200 rows, one stage). Which of the
    // two adds into b's gradient comes first must not depend on what the device did before.
    const pass = async (gpu: Gpu) =>
      tidyAsync(async () => {
        const mk = (n: number, k: number, f: number) =>
          leaf(
            fromArray(
              gpu,
              Array.from({ length: n * k }, (_, i) => Math.sin(i * f + 0.3)),
              [n, k],
            ),
          );
        const [x1, r1, x2] = [mk(600, 3, 0.1), mk(600, 2, 0.7), mk(200, 3, 0.2)];
        const [w1, w2] = [mk(3, 2, 0.4), mk(3, 2, 0.5)];
        const b = leaf(fromArray(gpu, [0, 0], [2]));
        // GELU makes the gradients reaching b uneven, so the order of its two adds shows in the bits.
        const y = add(sum(gelu(matmul(x1, w1, { bias: b, residual: r1 }))), sum(gelu(matmul(x2, w2, { bias: b }))));
        backward(y);
        return Array.from(await b.grad!.readF32());
      });
    const fresh = new Gpu(await acquireNodeDevice());
    const other = new Gpu(await acquireNodeDevice());
    try {
      const first = await pass(fresh);
      const second = await pass(fresh);
      expect(second).toEqual(first);
      expect(await pass(other)).toEqual(first);
      expect(first.every((v) => Number.isFinite(v) && v !== 0)).toBe(true);
    } finally {
      fresh.destroy();
      other.destroy();
    }
  });

  it('records nothing under noGrad and leaves outputs without grad', async () => {
    const gpu = await getGpu();
    await tidyAsync(async () => {
      const w = leaf(fromArray(gpu, [1, 2, 3, 4], [2, 2]));
      const y = noGrad(() => gelu(matmul(w, w)));
      expect(tape.length).toBe(0);
      expect(y.requiresGrad).toBe(false);
      const z = matmul(w, w);
      expect(tape.length).toBe(1);
      expect(z.requiresGrad).toBe(true);
      tape.clear();
    });
  });

  it('returns every buffer to the pool after tidy and backward', async () => {
    const gpu = await getGpu();
    const w = leaf(
      fromArray(
        gpu,
        Array.from({ length: 12 }, (_, i) => i / 10),
        [3, 4],
      ),
    );
    const x = fromArray(
      gpu,
      Array.from({ length: 6 }, (_, i) => 1 - i / 5),
      [2, 3],
    );
    const step = () => {
      const loss = tidy(() => sum(gelu(matmul(x, w))));
      backward(loss);
      loss.dispose();
    };
    step();
    await gpu.sync();
    const warm = gpu.pool.stats();
    for (let i = 0; i < 20; i++) step();
    await gpu.sync();
    const after = gpu.pool.stats();
    expect(after.inUse).toBe(warm.inUse);
    expect(after.buffers).toBe(warm.buffers);
    expect(tape.length).toBe(0);
    for (const t of [w.grad!, w, x]) t.dispose();
  });

  it('refuses a tensor whose storage went back to the pool', async () => {
    const gpu = await getGpu();
    const t = fromArray(gpu, [1], [1]);
    t.dispose();
    expect(() => t.view).toThrow(/used after its storage was released/);
  });

  it('keeps inputs a node needs alive after the caller disposes them', async () => {
    const gpu = await getGpu();
    await tidyAsync(async () => {
      const w = leaf(fromArray(gpu, [2, 3], [1, 2]));
      const x = fromArray(gpu, [1, 1, 1, 1], [2, 2]);
      const y = gelu(matmul(w, x));
      x.dispose();
      backward(sum(y));
      expect((await w.grad!.readF32()).every((v) => Number.isFinite(v) && v > 0)).toBe(true);
    });
  });

  it('has a backward rule for every op kind (a missing one is a type error)', () => {
    // @ts-expect-error: a table without the attention rule must not type-check.
    const missing: BackwardTable = { ...backwardRules, attention: undefined };
    expect(missing).toBeDefined();
    expect(Object.keys(backwardRules).sort()).toEqual([
      'add',
      'attention',
      'crossEntropy',
      'embedding',
      'gelu',
      'headCrossEntropy',
      'headDistill',
      'hiddenCosine',
      'layernorm',
      'matmul',
      'reshape',
      'rmsnorm',
      'ropeQkv',
      'scale',
      'sum',
      'swiglu',
      'toHalf',
      'transpose',
    ]);
    expect(Object.keys(SAVED).sort()).toEqual(Object.keys(backwardRules).sort());
  });

  it("keeps alive only what a backward rule reads: an add's inputs and outputs go back to the pool at once", async () => {
    const gpu = await getGpu();
    const w = leaf(fromArray(gpu, [1, 2, 3, 4], [2, 2]));
    await tidyAsync(async () => {
      const x = fromArray(gpu, [1, -1, 2, 0.5], [2, 2]);
      const before = gpu.pool.stats().inUse;
      const y = tidy(() => matmul(add(matmul(x, w), x), w)); // the add's operands and output: no rule reads them
      // Alive now: y, and the add's output (the second matmul's A); the first matmul's output went back to the pool.
      expect(gpu.pool.stats().inUse - before).toBe(2);
      backward(sum(y));
      // dW = (xW + x)ᵀ·1 + xᵀ·(1·Wᵀ): from the values that had to stay alive.
      const g = await w.grad!.readF32();
      expect(Array.from(g)).toEqual([13.5, 25.5, 2, 0]);
    });
    w.dispose();
  });
});

describe('f16 tensors (half-precision activations)', () => {
  it('store halves two per word, read back widened, and refuse what they cannot do', async () => {
    const gpu = await getGpu();
    await tidyAsync(async () => {
      const h = fromArray(gpu, [1, 1 / 3, 65504, 70000, -(2 ** -24), 0.1, 7], [7], 'f16');
      expect(h.view.size).toBe(16); // 7 halves in 4 words
      expect(Array.from(await h.read())).toEqual([1, 0.333251953125, 65504, Infinity, -(2 ** -24), 0.0999755859375, 7]);
      expect(() => h.range(1, 2)).toThrow(/f16 tensor from element 1: it must start on a word/);
      expect(h.range(2, 3)).toEqual({ buffer: h.view.buffer, offset: h.view.offset + 4, size: 8 }); // whole words
      expect(() => gelu(h)).toThrow(/gelu: expected an f32 tensor/);
      expect(() => toHalf(h)).toThrow(/toHalf: expected an f32 tensor/);
      const w = fromArray(gpu, [1, 2, 3, 4, 5, 6, 7], [7, 1]);
      // With transB, backward forms dB from A as the kernel's A: that needs an untransposed A.
      expect(() => matmul(reshape(h, [7, 1]), reshape(w, [1, 7]), { transA: true, transB: true })).toThrow(
        /f16 A with transB needs an untransposed A and a 2-D B/,
      );
      const a = fromArray(gpu, [1, 0.1, -3], [1, 3], 'f16'); // 0.1 is stored as 0.0999755859375
      expect(Array.from(await matmul(a, fromArray(gpu, [1, 2, 3], [3, 1])).readF32())).toEqual([
        Math.fround(1 + 0.0999755859375 * 2 - 9),
      ]);
      // Views start on 256 bytes: 128 halves.
      const big = empty(gpu, [256], 'f16');
      expect(() => new TensorClass(big.storage, [2], 'f16', 64)).toThrow(/256-byte boundary/);
      big.storage.retain();
      expect(new TensorClass(big.storage, [2], 'f16', 128).view.offset).toBe(256);
    });
  });
});

describe('gradient lifetime', () => {
  it('keeps a leaf’s gradient across tidy scopes and frees it with the leaf', async () => {
    const gpu = await getGpu();
    const inUse = gpu.pool.stats().inUse;
    const w = leaf(fromArray(gpu, [1, 2], [2]));
    for (let i = 0; i < 2; i++) tidy(() => backward(sum(scale(w, 3))));
    expect(Array.from(await w.grad!.readF32())).toEqual([6, 6]);
    w.dispose();
    expect(w.grad).toBeNull();
    await gpu.sync();
    expect(gpu.pool.stats().inUse).toBe(inUse);
  });
});

describe('autograd misuse is an error, never a silent no-op', () => {
  it('flows gradients through reshape', async () => {
    const gpu = await getGpu();
    await tidyAsync(async () => {
      const w = leaf(fromArray(gpu, [1, 2, 3, 4], [4]));
      const x = fromArray(gpu, [1, 0, 0, 1], [2, 2]);
      backward(sum(matmul(x, reshape(w, [2, 2]))));
      expect(Array.from(await w.grad!.readF32())).toEqual([1, 1, 1, 1]);
    });
  });

  it('refuses backward() of a loss computed without grad', async () => {
    const gpu = await getGpu();
    await tidyAsync(async () => {
      const w = leaf(fromArray(gpu, [1, 2], [2]));
      const loss = noGrad(() => sum(w));
      expect(() => backward(loss)).toThrow(/depends on nothing that requires grad/);
    });
  });

  it('refuses a parameter disposed before its gradient was computed', async () => {
    const gpu = await getGpu();
    const inUse = gpu.pool.stats().inUse;
    const loss = tidy(() => sum(scale(leaf(fromArray(gpu, [1, 2], [2])), 2)));
    expect(() => backward(loss)).toThrow(/was disposed before its gradient was computed/);
    loss.dispose();
    await gpu.sync();
    expect(gpu.pool.stats().inUse).toBe(inUse);
  });
});
