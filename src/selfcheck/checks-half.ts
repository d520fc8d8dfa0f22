// Self-checks of half-precision storage: the to_half kernel against the host's round-to-nearest-even (bit for bit,
// edge values included), and a linear layer on a toHalf input, forward and backward, against the f64 reference on the
// rounded values.

import { Rng } from '../util/rng';
import { f32ToF16Bits, roundToHalf } from '../util/half';
import { backward, fromArray, tidyAsync } from '../tensor';
import * as ops from '../tensor';
import { matmulBackwardRef, matmulRef } from '../reference/linalg';
import { f32 } from './compare';
import type { Check } from './harness';
import { layernormCase } from './checks-ops';
import { param, TOL_REDUCE } from './support';

/** Any difference fails (a zero tolerance would divide 0 by 0). */
const EXACT = { atol: Number.MIN_VALUE, rtol: 0 };

/**
 * Values at every edge of the conversion: signed zeros, the largest half and the rounding boundary past it, overflow,
 * infinities, NaN, the smallest normal and subnormal halves and the ties around them, ties between normal halves
 * (to even, both ways), an f32 subnormal, and a carry that rolls the mantissa into the next exponent.
 */
const EDGES = [
  0,
  -0,
  1,
  -1,
  65504,
  -65504,
  65519.99,
  65520,
  -65520,
  1e6,
  Infinity,
  -Infinity,
  NaN,
  2 ** -14,
  -(2 ** -14),
  2 ** -14 - 2 ** -25,
  2 ** -24,
  2 ** -25,
  1.5 * 2 ** -25,
  2 ** -26,
  3 * 2 ** -25,
  2 ** -24 + 2 ** -26,
  1 + 2 ** -11,
  1 + 3 * 2 ** -11,
  1 + 2 ** -11 + 2 ** -20,
  2 - 2 ** -12,
  1e-40,
  0.1,
  -0.3333333,
];

const toHalfCheck: Check = {
  name: 'toHalf',
  kernels: ['to_half'],
  async run({ gpu, expect }) {
    const rng = new Rng(21);
    for (const n of [EDGES.length, 1, 70_001]) {
      await tidyAsync(async () => {
        const X = n === EDGES.length ? Float64Array.from(EDGES) : f32(rng.normals(n, 8));
        const x = fromArray(gpu, X, [n]);
        const y = ops.toHalf(x);
        const words = new Uint32Array(await gpu.read(y.view));
        const got = Array.from({ length: n }, (_, i) => (words[i >> 1]! >>> (16 * (i & 1))) & 0xffff);
        expect(`bits n=${n}`, got, Array.from(X, f32ToF16Bits), EXACT);
        if (n % 2) expect(`padding n=${n}`, [words[words.length - 1]! >>> 16], [0], EXACT);
        expect(
          `widened n=${n}`,
          (await y.readF32()).filter(Number.isFinite),
          Array.from(roundToHalf(X)).filter(Number.isFinite),
          EXACT,
        );
      });
    }
  },
};

// y = half(x)·W + b, as a model's linear layer on half-precision activations: forward and dW use the rounded x,
// dx is the f32 G·Wᵀ (rounding passes gradients through), twice so the second pass accumulates. Then f16-mixed's
// layer, y = half(x)·half(W) + b: backward rounds G to halves for both products (dx = half(G)·half(W)ᵀ,
// dW = half(x)ᵀ·half(G)) and sums the f32 G for the bias; W's gradient reaches the f32 W through the rounding.
const halfLinearCheck: Check = {
  name: 'linear layer on f16 activations and f16 weights',
  kernels: ['to_half', 'matmul', 'axpby', 'colsum', 'transpose'],
  async run({ gpu, expect }) {
    const rng = new Rng(22);
    // transB: an nn.Linear weight [N, C] (the Llama family's), whose gradient backward forms as (Xᵀ·G)ᵀ.
    for (const mixed of [false, true])
      for (const [Bt, T, C, N, transB] of [
        [2, 7, 5, 9, false],
        [1, 33, 68, 20, false],
        [2, 7, 5, 9, true],
        [1, 33, 68, 20, true],
      ] as const) {
        await tidyAsync(async () => {
          const X = f32(rng.normals(Bt * T * C));
          const W = f32(rng.normals(C * N));
          const bias = f32(rng.normals(N));
          const G = f32(rng.normals(Bt * T * N));
          const x = param(gpu, X, [Bt, T, C]);
          const w = param(gpu, W, transB ? [N, C] : [C, N]);
          const b = param(gpu, bias, [N]);
          const pass = () => {
            const out = ops.matmul(ops.toHalf(x), mixed ? ops.toHalf(w) : w, { bias: b, transB });
            backward(out, fromArray(gpu, G, out.shape));
            return out;
          };
          pass();
          const y = pass();
          const dims = { M: Bt * T, N, K: C, batch: 1, transA: false, transB };
          const Xh = Float64Array.from(roundToHalf(X));
          const Wm = mixed ? Float64Array.from(roundToHalf(W)) : W;
          const Gm = mixed ? Float64Array.from(roundToHalf(G)) : G;
          const tag = `${mixed ? 'f16 W ' : ''}[${Bt},${T},${C}]·${transB ? `[${N},${C}]ᵀ` : `[${C},${N}]`}`;
          expect(`forward ${tag}`, await y.readF32(), matmulRef(Xh, Wm, bias, dims), TOL_REDUCE);
          const twice = (v: Float64Array) => v.map((e) => 2 * e);
          const ref = matmulBackwardRef(Xh, Wm, Gm, dims);
          expect(`dx (2 passes) ${tag}`, await x.grad!.readF32(), twice(ref.dA), TOL_REDUCE);
          expect(`dW (2 passes) ${tag}`, await w.grad!.readF32(), twice(ref.dB), TOL_REDUCE);
          const dBias = matmulBackwardRef(Xh, Wm, G, dims).dBias;
          expect(`dbias (2 passes) ${tag}`, await b.grad!.readF32(), twice(dBias), TOL_REDUCE);
        });
      }
  },
};

// LayerNorm writing halves itself (half-precision activations' ln_1 and ln_2): the same halves, bit for bit, as
// LayerNorm in f32 then toHalf on this device, and within one half rounding of the f64 reference; an odd C (rows
// straddling words) goes through toHalf instead. Backward from the f16 output: f32 gradients, as from the f32 output.
const halfLayernormCheck: Check = {
  name: 'layernorm to f16',
  kernels: ['layernorm_forward_f16', 'layernorm_forward', 'to_half', 'layernorm_backward*', 'colsum'],
  async run(ctx) {
    const rng = new Rng(23);
    for (const [rows, C] of [
      [5, 768],
      [33, 6],
      [4, 7],
    ])
      await layernormCase(ctx, rng, rows, C, true);
  },
};

export const halfChecks: Check[] = [toHalfCheck, halfLinearCheck, halfLayernormCheck];
