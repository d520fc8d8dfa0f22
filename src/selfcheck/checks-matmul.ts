// Self-check of every matmul kernel variant (plain 64×64, register-tiled 64×64 and 128×128, the 128×128 one with
// vec4 loads where the shape allows, both with 8- and 16-deep K slices where the adapter allows), each forced on
// shapes that cross tile, K-slice and 4-wide quad edges, with every transpose, a bias, alpha, beta accumulation and a
// broadcast batch operand; split-K on long-K shapes; and the variants bit-identical to one another (tuning may swap
// them mid-run). Each variant's half-storage twin (A an f16 tensor) gives, bit for bit, what the f32 kernel gives on
// the same values widened.

import { Rng } from '../util/rng';
import { backward, empty, fromArray, gelu, matmul, matmulGelu, tidyAsync, toHalf, type Tensor } from '../tensor';
import { launchMatmul, splitK, variantsFor, type MatmulEpilogue, type MatmulVariant } from '../tensor/ops/matmul';
import { geluBackwardRef, geluRef, matmulBackwardRef, matmulRef } from '../reference/linalg';
import { roundToHalf } from '../util/half';
import { differingArrays, differingElements, f32, EXACT_COUNT } from './compare';
import type { Check } from './harness';
import { param, TOL_REDUCE } from './support';

type Ctx = Parameters<Check['run']>[0];

/**
 * Every variant on each [M, N, K, batch] case and transpose combination: C = 0.5·op(A)·op(B) (+ bias) + C0 with B
 * shared by every batch entry (stride 0), then beta 0 into an uninitialised output; results against the f64
 * reference and the variants bit-identical to one another. `half`: A and B hold values representable as halves, and
 * each variant also runs with both stored as f16 tensors (f16-mixed training's products) and, untransposed, with A
 * alone as halves (half-precision activations; the f16-A op refuses transB, and A's loads are the same include in
 * both); all of those results must be bit-identical too. The half twins skip the beta-0 run (see there) and run for
 * HALF_TWINS only.
 */
/**
 * The variants whose f16-operand twins the half cases run: one per kernel source (the operand includes are the same
 * index-based loads in every variant of a source; the others differ from these only in tile and slice constants).
 * On a CPU adapter each pipeline takes seconds to build, and each twin is one per transpose pair.
 */
const HALF_TWINS: readonly MatmulVariant[] = ['simple', 'reg128', 'reg128v4'];

async function variantCases(
  { gpu, expect }: Ctx,
  rng: Rng,
  cases: [number, number, number, number][],
  withBias: boolean,
  scale = 1,
  half = false,
): Promise<void> {
  for (const [M, N, K, batch] of cases) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const outs: Float32Array[] = [];
        const normals = f32(rng.normals(batch * M * K, scale));
        const A = half ? Float64Array.from(roundToHalf(normals)) : normals;
        const B = half
          ? Float64Array.from(roundToHalf(f32(rng.normals(K * N, scale))))
          : f32(rng.normals(K * N, scale));
        const bias = withBias ? f32(rng.normals(N)) : null;
        const C0 = f32(rng.normals(batch * M * N));
        const label = `[${batch}×]${M}×${N}×${K} tA=${+transA} tB=${+transB}`;
        const storages = !half
          ? [[false, false]]
          : transA || transB
            ? [
                [false, false],
                [true, true],
              ]
            : [
                [false, false],
                [true, false],
                [true, true],
              ];
        const runs = variantsFor(gpu, { M, N, K, transA, transB }).flatMap((variant) =>
          (HALF_TWINS.includes(variant) ? storages : storages.slice(0, 1)).map(([halfA, halfB]) => ({
            variant,
            halfA: halfA!,
            halfB: halfB!,
          })),
        );
        for (const { variant, halfA, halfB } of runs) {
          const name = `${variant}${halfA ? ' f16 A' : ''}${halfB ? ' f16 B' : ''}`;
          await tidyAsync(async () => {
            const a = fromArray(gpu, A, [batch * M * K], halfA ? 'f16' : 'f32');
            const b = fromArray(gpu, B, [K * N], halfB ? 'f16' : 'f32');
            const bb = bias ? fromArray(gpu, bias, [N]) : null;
            const c = fromArray(gpu, C0, [batch * M * N]);
            launchMatmul(gpu, {
              a: a.view,
              b: b.view,
              c: c.view,
              bias: bb?.view ?? null,
              M,
              N,
              K,
              batch,
              strideB: 0,
              transA,
              transB,
              alpha: 0.5,
              beta: 1,
              variant,
              halfA,
              halfB,
            });
            const ref = matmulRef(A, B, bias, { M, N, K, batch, transA, transB, broadcastB: true }, 0.5).map(
              (v, i) => v + C0[i]!,
            );
            const got = await c.readF32();
            outs.push(got);
            expect(`${name} ${label}`, got, ref, TOL_REDUCE);
            // Overwrite (beta 0) into an uninitialised output: no stale value may leak in. (f32 operands only: how
            // the output is stored does not depend on how the operands are read, and each run is a pipeline to build.)
            if (halfA || halfB) return;
            const d = empty(gpu, [batch * M * N]);
            launchMatmul(gpu, {
              a: a.view,
              b: b.view,
              c: d.view,
              M,
              N,
              K,
              batch,
              strideB: 0,
              transA,
              transB,
              variant,
              halfA,
              halfB,
            });
            const ref0 = matmulRef(A, B, null, { M, N, K, batch, transA, transB, broadcastB: true });
            expect(`${name} beta 0 ${label}`, await d.readF32(), ref0, TOL_REDUCE);
          });
        }
        expect(`variants bit-identical ${label}`, [differingArrays(outs)], [0], EXACT_COUNT); // a count of differing variants
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
    await variantCases(
      ctx,
      new Rng(11),
      [
        [130, 67, 33, 1],
        [1, 129, 17, 1],
        [70, 3, 16, 2],
        [129, 131, 5, 1],
        [132, 68, 36, 2],
        [4, 260, 20, 1],
      ],
      true,
    );
  },
};

// Split-K (few output tiles, long K: weight gradients, the tied head's dx): parts sum their K ranges into a scratch,
// then are summed into C (written over it when beta is 0). No bias (a split product never has one). The second case's K
// leaves a ragged last part and is no multiple of 4.
const splitMatmulCheck: Check = {
  name: 'matmul split-K',
  kernels: ['matmul', 'colsum'],
  async run(ctx) {
    const cases: [number, number, number, number][] = [
      [20, 36, 2100, 1],
      [9, 7, 2050, 1],
    ];
    const split = cases.filter(([M, N, K]) => splitK({ M, N, K }) !== null).length;
    ctx.expect('cases that split', [split], [cases.length], EXACT_COUNT);
    // Operands scaled by K^-1/4 keep the outputs near 1, so f32 rounding over K terms stays inside TOL_REDUCE.
    await variantCases(ctx, new Rng(12), cases, false, 2100 ** -0.25);
  },
};

// Half storage: the f16-A and f16-A-and-B twins (HALF_TWINS) against every f32 variant on the same
// (half-representable) values. Odd K, N and batch strides put elements in both halves of a word at tile and slice edges; the second case
// lets the vec4-load twin run; the third splits K.
const halfMatmulCheck: Check = {
  name: 'matmul f16 operands',
  kernels: ['matmul', 'colsum'],
  async run(ctx) {
    await variantCases(
      ctx,
      new Rng(13),
      [
        [67, 33, 17, 3],
        [12, 8, 20, 2],
      ],
      true,
      1,
      true,
    );
    await variantCases(ctx, new Rng(14), [[9, 7, 2050, 1]], true, 2050 ** -0.25, true);
  },
};

async function gradOf(t: Tensor): Promise<Float32Array> {
  if (!t.grad) throw new Error(`tensor [${t.shape.join(', ')}] got no gradient`);
  return t.grad.readF32();
}

// Epilogues: the residual add (C = A·B + bias + R) and GELU (C = A·B + bias, G = GELU(C), as f32 or, for an even N,
// as halves) written by every variant as it stores the output, with A stored as the model has it, on a shape every
// variant can run (multiples of 4, ragged against tiles and slices) and one only the scalar-load kernels can; against
// the f64 references and bit-identical across variants. Then the ops that use them, forward and backward: matmul with a
// residual (dR = G) and matmulGelu (its backward is the matmul's and GELU's rules), with and without a bias.
const epilogueMatmulCheck: Check = {
  name: 'matmul epilogues',
  kernels: ['matmul+residual', 'matmul+gelu', 'matmul+gelu_f16', 'gelu_backward', 'axpby', 'colsum'],
  async run({ gpu, expect }) {
    const rng = new Rng(15);
    for (const [M, N, K] of [
      [132, 68, 36],
      [67, 9, 17],
    ] as [number, number, number][]) {
      const A = Float64Array.from(roundToHalf(f32(rng.normals(M * K))));
      const B = f32(rng.normals(K * N));
      const bias = f32(rng.normals(N));
      const R = f32(rng.normals(M * N));
      const pre = matmulRef(A, B, bias, { M, N, K, batch: 1, transA: false, transB: false });
      // The A storage each epilogue meets in GPT-2: the residual after attention (f32) and after the MLP (f16 with
      // half-precision activations), GELU on ln_2's output (f32, or f16 writing f16).
      const combos: [MatmulEpilogue, boolean[]][] = [
        ['residual', [false, true]],
        ['gelu', [false]],
        ...(N % 2 ? [] : [['gelu_f16', [true]] as [MatmulEpilogue, boolean[]]]),
      ];
      for (const [epilogue, storages] of combos) {
        const outs: Float32Array[] = [];
        for (const variant of variantsFor(gpu, { M, N, K })) {
          for (const halfA of storages) {
            await tidyAsync(async () => {
              const name = `${epilogue} ${variant}${halfA ? ' f16 A' : ''} ${M}×${N}×${K}`;
              const a = fromArray(gpu, A, [M * K], halfA ? 'f16' : 'f32');
              const b = fromArray(gpu, B, [K * N]);
              const bb = fromArray(gpu, bias, [N]);
              const c = empty(gpu, [M * N]);
              const x =
                epilogue === 'residual'
                  ? fromArray(gpu, R, [M * N])
                  : empty(gpu, [M * N], epilogue === 'gelu_f16' ? 'f16' : 'f32');
              const out =
                epilogue === 'residual' ? { residual: x.view } : { gelu: x.view, geluHalf: epilogue === 'gelu_f16' };
              launchMatmul(gpu, { a: a.view, b: b.view, c: c.view, bias: bb.view, M, N, K, variant, halfA, ...out });
              if (epilogue === 'residual') {
                const got = await c.readF32();
                expect(
                  name,
                  got,
                  pre.map((v, i) => v + R[i]!),
                  TOL_REDUCE,
                );
                outs.push(got);
              } else {
                const [u, g] = [await c.readF32(), await x.readF32()];
                expect(`${name} pre-activation`, u, pre, TOL_REDUCE);
                if (epilogue === 'gelu') expect(`${name} activation`, g, geluRef(pre), TOL_REDUCE);
                else {
                  // The halves toHalf makes of this device's f32 GELU of the same pre-activations, bit for bit.
                  const same = await toHalf(gelu(fromArray(gpu, u, [M * N]))).readF32();
                  expect(
                    `${name} activation: same halves as GELU then toHalf`,
                    [differingElements(g, same)],
                    [0],
                    EXACT_COUNT,
                  );
                  expect(`${name} activation`, g, geluRef(pre), { atol: 1e-4, rtol: 2 ** -10 });
                }
                outs.push(Float32Array.of(...u, ...g)); // one run's outputs, compared whole across variants
              }
            });
          }
        }
        expect(`${epilogue} variants bit-identical ${M}×${N}×${K}`, [differingArrays(outs)], [0], EXACT_COUNT);
      }
    }
    // The ops, forward and backward, through the tuned default kernel; two passes, so every gradient accumulates.
    const [Bt, T, C, N] = [2, 5, 7, 11];
    const M = Bt * T;
    for (const withBias of [true, false]) {
      await tidyAsync(async () => {
        const X = f32(rng.normals(M * C));
        const W = f32(rng.normals(C * N));
        const Bv = f32(rng.normals(N));
        const R = f32(rng.normals(M * N));
        const G = f32(rng.normals(M * N));
        const dims = { M, N, K: C, batch: 1, transA: false, transB: false };
        const biasRef = withBias ? Bv : null;
        const pre = matmulRef(X, W, biasRef, dims);
        const tag = withBias ? 'with bias' : 'no bias';
        const twice = (v: Float64Array) => v.map((y) => 2 * y);
        // residual
        const x = param(gpu, X, [Bt, T, C]);
        const w = param(gpu, W, [C, N]);
        const bb = param(gpu, Bv, [N]);
        const r = param(gpu, R, [Bt, T, N]);
        let y: Tensor | null = null;
        for (let pass = 0; pass < 2; pass++) {
          y = matmul(x, w, { bias: withBias ? bb : null, residual: r });
          backward(y, fromArray(gpu, G, y.shape));
        }
        expect(
          `residual op forward ${tag}`,
          await y!.readF32(),
          pre.map((v, i) => v + R[i]!),
          TOL_REDUCE,
        );
        const ref = matmulBackwardRef(X, W, G, dims);
        expect(`residual op dX ${tag}`, await gradOf(x), twice(ref.dA), TOL_REDUCE);
        expect(`residual op dW ${tag}`, await gradOf(w), twice(ref.dB), TOL_REDUCE);
        if (withBias) expect(`residual op dbias ${tag}`, await gradOf(bb), twice(ref.dBias), TOL_REDUCE);
        expect(`residual op dR ${tag}`, await gradOf(r), twice(G), TOL_REDUCE);
        // GELU, the activation as f32 and as halves (N odd: the op rounds with toHalf instead; then N + 1, even: the
        // epilogue writes the halves)
        for (const [half, n] of [
          [false, N],
          [true, N],
          [true, N + 1],
        ] as [boolean, number][]) {
          const Wn = n === N ? W : f32(rng.normals(C * n));
          const Bn = n === N ? Bv : f32(rng.normals(n));
          const Gn = n === N ? G : f32(rng.normals(M * n));
          const dn = { ...dims, N: n };
          const preN = matmulRef(X, Wn, withBias ? Bn : null, dn);
          const x2 = param(gpu, X, [Bt, T, C]);
          const w2 = param(gpu, Wn, [C, n]);
          const b2 = param(gpu, Bn, [n]);
          for (let pass = 0; pass < 2; pass++) {
            y = matmulGelu(x2, w2, { bias: withBias ? b2 : null, half });
            backward(y, fromArray(gpu, Gn, y.shape));
          }
          const t = `${tag}${half ? `, f16 activation, N=${n}` : ''}`;
          expect(`matmulGelu op dtype ${t}`, [y!.dtype === (half ? 'f16' : 'f32') ? 0 : 1], [0], EXACT_COUNT);
          expect(
            `matmulGelu op forward ${t}`,
            await y!.readF32(),
            geluRef(preN),
            half ? { atol: 1e-4, rtol: 2 ** -10 } : TOL_REDUCE,
          );
          const refG = matmulBackwardRef(X, Wn, geluBackwardRef(preN, Gn), dn);
          expect(`matmulGelu op dX ${t}`, await gradOf(x2), twice(refG.dA), TOL_REDUCE);
          expect(`matmulGelu op dW ${t}`, await gradOf(w2), twice(refG.dB), TOL_REDUCE);
          if (withBias) expect(`matmulGelu op dbias ${t}`, await gradOf(b2), twice(refG.dBias), TOL_REDUCE);
        }
      });
    }
  },
};

export const matmulChecks: Check[] = [tiledMatmulCheck, splitMatmulCheck, halfMatmulCheck, epilogueMatmulCheck];
