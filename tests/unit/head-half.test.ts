// f16-mixed's tensor-core head: the seeded cross-entropy writing dlogits as halves (crossentropy_seeded_f16) against
// the f32 kernel's values rounded on the CPU, and the whole head on a padded f16 copy of w (x as halves, logits and
// dlogits rows padded to whole 64-row tiles) against an f64 reference, on the f32 kernels and on an emulated
// tensor-core config, bit for bit between the two.

import { describe, expect, it } from 'vitest';
import { acquireNodeDevice } from '../../src/gpu/node';
import { Gpu } from '../../src/gpu/runtime';
import { backward, empty, fromArray, headCrossEntropy, tidyAsync, toHalf } from '../../src/tensor';
import { launchToHalf } from '../../src/tensor/ops/cast';
import { CE_SEEDED, CE_SEEDED_HALF } from '../../src/tensor/ops/crossentropy';
import { paddedVocab } from '../../src/tensor/ops/head';
import { dispatchRows } from '../../src/tensor/ops/launch';
import { zeros } from '../../src/tensor/tensor';
import { roundToHalf } from '../../src/util/half';
import { getGpu, leaf } from './gpu';

describe('crossentropy_seeded with rows padded past V, dlogits as halves', () => {
  it('writes the f32 kernel’s values rounded to halves, zeros past V and in ignored rows; overflow → infinity', async () => {
    const gpu = await getGpu();
    await tidyAsync(async () => {
      const [rows, V, stride] = [4, 5, 8];
      const Z = Array.from({ length: rows * stride }, (_, i) => (i % stride < V ? Math.sin(i * 1.3) * 3 : 99));
      const targets = [2, -1, 4, 0];
      const run = async (half: boolean, g: number) => {
        const logits = fromArray(gpu, Z, [rows, stride]);
        const tgt = fromArray(gpu, targets, [rows], 'i32');
        const count = fromArray(gpu, [3], [1]);
        const seed = fromArray(gpu, [g], [1]);
        const losses = empty(gpu, [rows]);
        const lse = empty(gpu, [rows]);
        // The f32 output starts as a marker, to see which entries the kernel writes.
        const dl = half
          ? empty(gpu, [rows, stride], 'f16')
          : fromArray(gpu, new Array(rows * stride).fill(7), [rows, stride]);
        const views = [logits, tgt, count, seed, losses, lse, dl].map((t) => t.view);
        dispatchRows(gpu, half ? CE_SEEDED_HALF : CE_SEEDED, views, { N: rows, V, stride }, rows);
        return { dl: await dl.readF32(), losses: await losses.readF32(), lse: await lse.readF32() };
      };
      const f32 = await run(false, 96);
      const f16 = await run(true, 96);
      expect(f16.losses).toEqual(f32.losses);
      expect(f16.lse).toEqual(f32.lse);
      const want = roundToHalf(Array.from(f32.dl, (v, i) => (i % stride < V ? v : 0)));
      expect(f16.dl).toEqual(want);
      for (let r = 0; r < rows; r++) {
        // f64 reference of the row: lse, loss, and g/count·(softmax − onehot).
        const z = Z.slice(r * stride, r * stride + V);
        const m = Math.max(...z);
        const l = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
        expect(f32.lse[r]).toBeCloseTo(l, 5);
        const t = targets[r]!;
        expect(f32.losses[r]).toBeCloseTo(t < 0 ? 0 : l - z[t]!, 5);
        for (let v = 0; v < stride; v++) {
          const got = f32.dl[r * stride + v]!;
          if (v >= V)
            expect(got).toBe(7); // past V: the f32 kernel writes nothing
          else expect(got).toBeCloseTo(t < 0 ? 0 : (96 / 3) * (Math.exp(z[v]! - l) - (v === t ? 1 : 0)), 4);
        }
      }
      expect(Array.from(f16.dl.slice(stride, 2 * stride))).toEqual(new Array(stride).fill(0)); // the ignored row
      // A loss scale too large for halves: the target's gradient rounds to −infinity (the step guard's cue).
      const over = await run(true, 2 ** 20);
      expect(over.dl[2]).toBe(-Infinity);
    });
  });
});

/**
 * The padded f16 head, forward and backward, on `gpu`: loss, dx (through toHalf, to the f32 x) and dw; the forward
 * made for seed `g`, backward seeded with `gBackward` (another value: the gradients are recomputed).
 */
async function halfHead(gpu: Gpu, N: number, C: number, V: number, g: number, gBackward = g) {
  const X = Array.from({ length: N * C }, (_, i) => Math.sin(i * 0.37) * 1.5);
  const W = Array.from({ length: V * C }, (_, i) => Math.cos(i * 0.71) * 0.2);
  const targets = Int32Array.from({ length: N }, (_, i) => (i === 5 ? -1 : (i * 13) % V));
  const sgmat = () =>
    [...gpu.dispatchesByKernel].filter(([k]) => k.startsWith('matmul_sgmat')).reduce((a, [, n]) => a + n, 0);
  return tidyAsync(async () => {
    const xf = leaf(fromArray(gpu, X, [N, C]));
    const w = leaf(fromArray(gpu, W, [V, C]));
    const half = zeros(gpu, [paddedVocab(V), C], 'f16');
    launchToHalf(gpu, w.view, half.view, V * C);
    const seed = fromArray(gpu, [g], [1]);
    const before = sgmat();
    const loss = headCrossEntropy(toHalf(xf), w, targets, { chunkRows: 64, seed, half });
    backward(loss, gBackward === g ? seed : fromArray(gpu, [gBackward], [1]));
    return {
      X,
      W,
      targets,
      loss: (await loss.readF32())[0]!,
      dx: await xf.grad!.readF32(),
      dw: await w.grad!.readF32(),
      onTensorCores: sgmat() - before,
    };
  });
}

describe('the tensor-core head of f16-mixed (a padded f16 copy of w)', () => {
  const [N, C, V, g] = [128, 64, 100, 64];

  it('gives the loss and the gradients of the halves (f64 reference), the same bits on f32 kernels and tensor cores', async () => {
    const plain = await getGpu();
    const tc = new Gpu(await acquireNodeDevice(), { emulateTensorCores: { M: 8, N: 8, K: 8 } });
    try {
      const a = await halfHead(plain, N, C, V, g);
      const b = await halfHead(tc, N, C, V, g);
      expect(a.onTensorCores).toBe(0);
      expect(b.onTensorCores).toBe(6); // two chunks of 64 rows: logits, dx and dw each
      expect(b.loss).toBe(a.loss);
      expect(b.dx).toEqual(a.dx);
      expect(b.dw).toEqual(a.dw);

      // f64 on the same halves: x and w rounded, dlogits rounded to halves as the kernel stores them.
      const Xh = roundToHalf(a.X);
      const Wh = roundToHalf(a.W);
      const scored = a.targets.filter((t) => t >= 0).length;
      const dl = new Float64Array(N * V);
      let loss = 0;
      for (let r = 0; r < N; r++) {
        const z = Array.from({ length: V }, (_, v) => {
          let s = 0;
          for (let k = 0; k < C; k++) s += Xh[r * C + k]! * Wh[v * C + k]!;
          return s;
        });
        const m = Math.max(...z);
        const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
        const t = a.targets[r]!;
        if (t < 0) continue;
        loss += lse - z[t]!;
        const row = roundToHalf(z.map((v, j) => (g / scored) * (Math.exp(v - lse) - (j === t ? 1 : 0))));
        dl.set(row, r * V);
      }
      expect(Math.abs(a.loss - loss / scored)).toBeLessThan(1e-5);
      const dx = new Float64Array(N * C);
      const dw = new Float64Array(V * C);
      for (let r = 0; r < N; r++)
        for (let v = 0; v < V; v++) {
          const d = dl[r * V + v]!;
          for (let k = 0; k < C; k++) {
            dx[r * C + k] += d * Wh[v * C + k]!;
            dw[v * C + k] += d * Xh[r * C + k]!;
          }
        }
      // Within a few half ulps of one dlogit (the f32 exp may round a dlogit the other way than f64 does).
      const worst = (got: Float32Array, want: Float64Array) => {
        let e = 0;
        let top = 0;
        want.forEach((v, i) => {
          e = Math.max(e, Math.abs(got[i]! - v));
          top = Math.max(top, Math.abs(v));
        });
        return e / top;
      };
      expect(worst(a.dx, dx)).toBeLessThan(2e-3);
      expect(worst(a.dw, dw)).toBeLessThan(2e-3);
    } finally {
      tc.destroy();
    }
  });

  it('recomputes for another seed on the same halves: the bits of a forward made for that seed', async () => {
    const tc = new Gpu(await acquireNodeDevice(), { emulateTensorCores: { M: 8, N: 8, K: 8 } });
    try {
      const made = await halfHead(tc, N, C, V, 32);
      const recomputed = await halfHead(tc, N, C, V, 64, 32);
      expect(recomputed.onTensorCores).toBe(12); // the forward's 6, and the recompute's 6
      expect(recomputed.loss).toBe(made.loss);
      expect(recomputed.dx).toEqual(made.dx);
      expect(recomputed.dw).toEqual(made.dw);
    } finally {
      tc.destroy();
    }
  });

  it('refuses a copy that is not the padded halves of w', async () => {
    const gpu = await getGpu();
    await tidyAsync(async () => {
      const x = fromArray(gpu, new Array(64 * 64).fill(0.1), [64, 64], 'f16');
      const w = fromArray(gpu, new Array(100 * 64).fill(0.1), [100, 64]);
      const seed = fromArray(gpu, [1], [1]);
      const targets = new Int32Array(64);
      for (const bad of [zeros(gpu, [100, 64], 'f16'), zeros(gpu, [128, 64]), zeros(gpu, [128, 32], 'f16')])
        expect(() => headCrossEntropy(x, leaf(w), targets, { seed, half: bad })).toThrow(
          /head: the f16 head copy must be \[128, 64\] halves/,
        );
      const odd = fromArray(gpu, new Array(64 * 3).fill(0.1), [64, 3], 'f16');
      expect(() => headCrossEntropy(odd, fromArray(gpu, new Array(30).fill(0.1), [10, 3]), targets)).toThrow(
        /head: an f16 x needs an even width, not 3/,
      );
    });
  });
});
