// The f64 CPU references checked against mathematics rather than against code: every backward in
// src/reference is compared with central finite differences of its own forward, and the optimizer
// references with hand computations and orthogonality properties. The GPU kernels are only as right as
// these references (tests/unit/kernels.test.ts compares against them), so they need proof of their own.
// CPU only: nothing here touches the GPU.

import { describe, expect, it } from 'vitest';
import {
  geluBackwardRef,
  geluRef,
  matmulBackwardRef,
  matmulRef,
  transposeRef,
  type F64,
  type MatmulDims,
} from '../../src/reference/linalg';
import {
  attentionBackwardRef,
  attentionRef,
  crossEntropyRef,
  distillRef,
  embeddingBackwardRef,
  hiddenCosineRef,
  embeddingRef,
  layernormBackwardRef,
  layernormRef,
} from '../../src/reference/nn';
import {
  rmsnormBackwardRef,
  rmsnormRef,
  ropeQkvBackwardRef,
  ropeQkvRef,
  swigluBackwardRef,
  swigluRef,
} from '../../src/reference/llama-ops';
import { adamwStepRef, newtonSchulzRef, type AdamWHyper } from '../../src/reference/optim';
import { ropeInverseFrequencies } from '../../src/tensor/ops/rope';
import { Rng } from '../../src/util/rng';
import { symmetricEigenvalues } from './check-helpers';

// ---------------------------------------------------------------------------------------------------
// Finite-difference machinery
// ---------------------------------------------------------------------------------------------------

// h = 1e-6 in f64: truncation error O(h²) ≈ 1e-12 and round-off ≈ 1e-16·|L|/h ≈ 1e-10·|L| are both far
// below the tolerance, while a genuine bug (a missing term, a wrong index) shows up at O(1).
const H = 1e-6;
const ABS_TOL = 1e-6;
const REL_TOL = 1e-5;

/** Σ r·y: a random projection turns a vector-valued op into a scalar whose gradient is the backward of r. */
function project(r: F64, y: F64): number {
  expect(y.length).toBe(r.length);
  let s = 0;
  for (let i = 0; i < y.length; i++) s += r[i]! * y[i]!;
  return s;
}

interface GradMismatch {
  index: number;
  analytic: number;
  numeric: number;
  err: number;
}

/**
 * Compares `analytic` with the central difference of `loss` at x for every element of x, and returns the
 * worst violation of |a − n| ≤ ABS_TOL + REL_TOL·|n| (null when every element passes). Returning rather
 * than asserting lets the sanity tests prove that the checker can fail.
 */
function gradMismatch(x: F64, loss: (x: F64) => number, analytic: F64): GradMismatch | null {
  expect(analytic.length).toBe(x.length);
  const xp = Float64Array.from(x);
  let worst: GradMismatch | null = null;
  let worstExcess = 0;
  for (let i = 0; i < x.length; i++) {
    xp[i] = x[i]! + H;
    const lp = loss(xp);
    xp[i] = x[i]! - H;
    const lm = loss(xp);
    xp[i] = x[i]!;
    const numeric = (lp - lm) / (2 * H);
    const a = analytic[i]!;
    const err = Math.abs(a - numeric);
    const excess = err - (ABS_TOL + REL_TOL * Math.abs(numeric));
    // `!(excess <= 0)` also catches NaN, which a plain `excess > 0` would let through.
    if (!(excess <= 0) && (worst === null || !(excess <= worstExcess))) {
      worst = { index: i, analytic: a, numeric, err };
      worstExcess = excess;
    }
  }
  return worst;
}

/** Asserts the gradient; the label names the input so a failure says which gradient is wrong. */
function expectGrad(label: string, x: F64, loss: (x: F64) => number, analytic: F64): void {
  const m = gradMismatch(x, loss, analytic);
  expect(
    m,
    m ? `${label}: element ${m.index} analytic ${m.analytic} vs numeric ${m.numeric} (|Δ| ${m.err})` : label,
  ).toBeNull();
}

// ---------------------------------------------------------------------------------------------------
// Backwards vs finite differences
// ---------------------------------------------------------------------------------------------------

describe('reference backwards vs central finite differences', () => {
  describe('matmulBackwardRef', () => {
    interface Case {
      M: number;
      N: number;
      K: number;
      batch: number;
      broadcastB: boolean;
      bias: boolean;
      alpha: number;
    }
    const cases: Case[] = [
      // Odd, distinct dims so that any confusion between M, N and K indexes out of place.
      { M: 3, N: 5, K: 7, batch: 1, broadcastB: false, bias: true, alpha: 0.5 },
      { M: 3, N: 5, K: 7, batch: 2, broadcastB: false, bias: true, alpha: 0.5 },
      { M: 3, N: 5, K: 7, batch: 2, broadcastB: true, bias: true, alpha: 0.5 },
      // Unit dims and no bias: the vector-shaped edge cases, at alpha = 1.
      { M: 1, N: 3, K: 1, batch: 2, broadcastB: false, bias: false, alpha: 1 },
      { M: 5, N: 1, K: 3, batch: 1, broadcastB: false, bias: false, alpha: 1 },
    ];
    let seed = 100;
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const c of cases) {
          const name =
            `transA=${transA} transB=${transB} M=${c.M} N=${c.N} K=${c.K} batch=${c.batch}` +
            `${c.broadcastB ? ' broadcastB' : ''} bias=${c.bias} alpha=${c.alpha}`;
          const s = seed++;
          it(name, () => {
            const rng = new Rng(s);
            const d: MatmulDims = { M: c.M, N: c.N, K: c.K, batch: c.batch, transA, transB, broadcastB: c.broadcastB };
            const A = rng.normals(c.batch * c.M * c.K);
            const B = rng.normals((c.broadcastB ? 1 : c.batch) * c.K * c.N);
            const bias = c.bias ? rng.normals(c.N) : null;
            const r = rng.normals(c.batch * c.M * c.N);
            const g = matmulBackwardRef(A, B, r, d, c.alpha);
            expectGrad('dA', A, (a) => project(r, matmulRef(a, B, bias, d, c.alpha)), g.dA);
            expectGrad('dB', B, (b) => project(r, matmulRef(A, b, bias, d, c.alpha)), g.dB);
            // Without a bias the forward has no bias input; dBias is still what a bias would receive.
            const biasAt = bias ?? new Float64Array(c.N);
            expectGrad('dBias', biasAt, (bb) => project(r, matmulRef(A, B, bb, d, c.alpha)), g.dBias);
          });
        }
      }
    }
  });

  it('geluBackwardRef', () => {
    const rng = new Rng(1);
    // Far tails (−6, 3), the origin and the curved middle, then random points.
    const x = Float64Array.from([-6, -1, 0, 0.5, 3, ...rng.normals(10, 2)]);
    const r = rng.normals(x.length);
    expectGrad('dx', x, (xx) => project(r, geluRef(xx)), geluBackwardRef(x, r));
  });

  describe('layernormBackwardRef', () => {
    for (const [rows, C] of [
      [3, 5],
      [1, 7],
      // C = 1: every row's variance is exactly 0, so x̂ = 0 and y = b whatever x and w are; dx and dw must
      // both be exactly 0. Kept because it is where a 0/0 or a missing eps would surface as NaN.
      [3, 1],
    ] as const) {
      it(`rows=${rows} C=${C}`, () => {
        const rng = new Rng(200 + rows * 10 + C);
        const x = rng.normals(rows * C, 1.5);
        // Weights away from 1 and a nonzero bias, so a gradient that ignores w or b cannot pass by luck.
        const w = rng.normals(C, 0.7).map((v) => v + 1);
        const b = rng.normals(C);
        const r = rng.normals(rows * C);
        const g = layernormBackwardRef(x, w, r, rows, C);
        expectGrad('dx', x, (xx) => project(r, layernormRef(xx, w, b, rows, C).y), g.dx);
        expectGrad('dw', w, (ww) => project(r, layernormRef(x, ww, b, rows, C).y), g.dw);
        expectGrad('db', b, (bb) => project(r, layernormRef(x, w, bb, rows, C).y), g.db);
      });
    }
  });

  describe('attentionBackwardRef', () => {
    // KV < H: grouped key/value heads (a key/value head's gradient sums over the query heads it serves).
    for (const [B, T, H_, D, KV] of [
      [2, 5, 2, 3, 2],
      [1, 3, 1, 1, 1],
      [2, 4, 4, 2, 1],
      [1, 5, 4, 3, 2],
    ] as const) {
      it(`B=${B} T=${T} H=${H_} KV=${KV} D=${D}`, () => {
        const rng = new Rng(300 + T + 10 * KV);
        const qkv = rng.normals(B * T * (H_ + 2 * KV) * D);
        const r = rng.normals(B * T * H_ * D);
        const dqkv = attentionBackwardRef(qkv, r, B, T, H_, D, KV);
        expectGrad('dqkv', qkv, (z) => project(r, attentionRef(z, B, T, H_, D, KV).out), dqkv);
      });
    }
  });

  describe('Llama-family op references', () => {
    for (const [rows, C, eps] of [
      [3, 5, 1e-5],
      [2, 1, 1e-6],
      [4, 8, 0],
    ] as const) {
      it(`rmsnormBackwardRef rows=${rows} C=${C} eps=${eps}`, () => {
        const rng = new Rng(500 + rows * 10 + C);
        const x = rng.normals(rows * C, 1.5);
        const w = rng.normals(C, 0.7).map((v) => v + 1);
        const r = rng.normals(rows * C);
        const g = rmsnormBackwardRef(x, w, r, rows, C, eps);
        expectGrad('dx', x, (xx) => project(r, rmsnormRef(xx, w, rows, C, eps)), g.dx);
        expectGrad('dw', w, (ww) => project(r, rmsnormRef(x, ww, rows, C, eps)), g.dw);
      });
    }

    it('rmsnormRef is x / rms(x) · w', () => {
      // [3, 4]: rms = √((9 + 16)/2) = √12.5
      const y = rmsnormRef([3, 4], [1, 2], 1, 2, 0);
      expect(y[0]).toBeCloseTo(3 / Math.sqrt(12.5), 14);
      expect(y[1]).toBeCloseTo(8 / Math.sqrt(12.5), 14);
    });

    it('swigluBackwardRef', () => {
      const rng = new Rng(510);
      const g = rng.normals(40, 4);
      const u = rng.normals(40);
      const r = rng.normals(40);
      const d = swigluBackwardRef(g, u, r);
      expectGrad('dg', g, (gg) => project(r, swigluRef(gg, u)), d.dg);
      expectGrad('du', u, (uu) => project(r, swigluRef(g, uu)), d.du);
    });

    for (const [B, T, H_, KV, D] of [
      [2, 3, 2, 1, 4],
      [1, 5, 3, 3, 2],
    ] as const) {
      it(`ropeQkvBackwardRef B=${B} T=${T} H=${H_} KV=${KV} D=${D}`, () => {
        const rng = new Rng(520 + T);
        const dims = { B, T, H: H_, KV, D };
        const inv = ropeInverseFrequencies(D, 10000);
        const q = rng.normals(B * T * H_ * D);
        const k = rng.normals(B * T * KV * D);
        const v = rng.normals(B * T * KV * D);
        const r = rng.normals(B * T * (H_ + 2 * KV) * D);
        const g = ropeQkvBackwardRef(r, inv, dims);
        expectGrad('dq', q, (x) => project(r, ropeQkvRef(x, k, v, inv, dims)), g.dq);
        expectGrad('dk', k, (x) => project(r, ropeQkvRef(q, x, v, inv, dims)), g.dk);
        expectGrad('dv', v, (x) => project(r, ropeQkvRef(q, k, x, inv, dims)), g.dv);
      });
    }

    it("ropeQkvRef follows Hugging Face's rotate-half form at a hand-checked point", () => {
      // D = 4, θ = 100: θ₀ = 1, θ₁ = 100^(−1/2) = 0.1; position 1 rotates (x0, x2) by 1 rad and (x1, x3) by 0.1 rad.
      const inv = ropeInverseFrequencies(4, 100);
      expect(Array.from(inv)).toEqual([1, Math.fround(0.1)]);
      const q = [0, 0, 0, 0, 1, 2, 3, 4]; // T = 2: position 0 (zeros), then position 1
      const out = ropeQkvRef(q, [0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0], inv, {
        B: 1,
        T: 2,
        H: 1,
        KV: 1,
        D: 4,
      });
      const a = Math.fround(0.1);
      // q' = q·cos + rotate_half(q)·sin, rotate_half([1,2,3,4]) = [−3, −4, 1, 2]
      const want = [
        1 * Math.cos(1) - 3 * Math.sin(1),
        2 * Math.cos(a) - 4 * Math.sin(a),
        3 * Math.cos(1) + 1 * Math.sin(1),
        4 * Math.cos(a) + 2 * Math.sin(a),
      ];
      for (let i = 0; i < 4; i++) expect(out[12 + i]).toBeCloseTo(want[i]!, 6);
    });
  });

  it('crossEntropyRef dlogits (one target ignored)', () => {
    const rng = new Rng(400);
    const N = 5;
    const V = 7;
    // -100 is the ignore index: that row must get zero gradient and not count in the mean.
    const targets = [3, 0, -100, 6, 3];
    const logits = rng.normals(N * V, 2);
    const { dlogits } = crossEntropyRef(logits, targets, N, V);
    expectGrad('dlogits', logits, (l) => crossEntropyRef(l, targets, N, V).loss, dlogits);
    for (let v = 0; v < V; v++) expect(dlogits[2 * V + v]).toBe(0);
  });

  it('distillRef dlogits (α·CE + (1−α)·τ²·KL to the teacher; one target ignored)', () => {
    const rng = new Rng(401);
    const N = 4;
    const V = 6;
    const targets = [2, -100, 5, 0];
    const Z = rng.normals(N * V, 2);
    const T = rng.normals(N * V, 2);
    for (const [alpha, tau] of [
      [0.5, 2],
      [0.2, 0.7],
      [1, 3],
    ] as const) {
      const { dlogits } = distillRef(Z, T, targets, N, V, alpha, tau);
      expectGrad(`dlogits α=${alpha} τ=${tau}`, Z, (z) => distillRef(z, T, targets, N, V, alpha, tau).loss, dlogits);
      for (let v = 0; v < V; v++) expect(dlogits[V + v]).toBe(0);
    }
    // α = 1 is cross-entropy; the KL term vanishes when the teacher's logits are the student's.
    expect(distillRef(Z, T, targets, N, V, 1, 2).loss).toBeCloseTo(crossEntropyRef(Z, targets, N, V).loss, 12);
    expect(distillRef(Z, Z, targets, N, V, 0, 2).loss).toBeCloseTo(0, 12);
  });

  it('hiddenCosineRef ds (scale·mean(1 − cos) over scored rows; one target ignored)', () => {
    const rng = new Rng(402);
    const [N, C, V] = [4, 5, 9];
    const targets = [3, -100, 8, 0];
    const S = rng.normals(N * C, 1.5);
    const Tt = rng.normals(N * C, 0.7);
    for (const scale of [1, 0.3]) {
      const { ds } = hiddenCosineRef(S, Tt, targets, N, C, V, scale);
      expectGrad(`ds scale=${scale}`, S, (s) => hiddenCosineRef(s, Tt, targets, N, C, V, scale).loss, ds);
      for (let c = 0; c < C; c++) expect(ds[C + c]).toBe(0);
    }
    // Equal directions cost nothing, opposite ones 2·scale; the loss ignores each row's length.
    expect(
      hiddenCosineRef(
        S,
        S.map((v) => 3 * v),
        targets,
        N,
        C,
        V,
        1,
      ).loss,
    ).toBeCloseTo(0, 12);
    expect(
      hiddenCosineRef(
        S,
        S.map((v) => -v),
        targets,
        N,
        C,
        V,
        0.5,
      ).loss,
    ).toBeCloseTo(1, 12);
  });

  it('embeddingBackwardRef (repeated tokens)', () => {
    const rng = new Rng(500);
    const B = 2;
    const T = 3;
    const V = 5;
    const P = 4; // P > T: position 3 is never used and must get zero gradient.
    const C = 3;
    // Token 1 repeats within a row and across rows, so dTable must accumulate rather than overwrite.
    const tokens = [1, 4, 1, 0, 1, 4];
    const wte = rng.normals(V * C);
    const wpe = rng.normals(P * C);
    const r = rng.normals(B * T * C);
    const g = embeddingBackwardRef(tokens, B, T, r, V, P, C);
    expectGrad('dTable', wte, (w) => project(r, embeddingRef(tokens, B, T, w, wpe, C)), g.dTable);
    expectGrad('dPositions', wpe, (w) => project(r, embeddingRef(tokens, B, T, wte, w, C)), g.dPositions);
  });

  describe('transposeRef (its backward is the transpose of the upstream gradient)', () => {
    for (const [R, C] of [
      [3, 5],
      [1, 7],
    ] as const) {
      it(`R=${R} C=${C}`, () => {
        const rng = new Rng(600 + R);
        const x = rng.normals(R * C);
        const r = rng.normals(R * C); // gradient w.r.t. the [C, R] output
        expectGrad('dx', x, (xx) => project(r, transposeRef(xx, R, C)), transposeRef(r, C, R));
      });
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// The checker itself must be able to fail, or the tests above prove nothing
// ---------------------------------------------------------------------------------------------------

describe('finite-difference checker sanity', () => {
  const rows = 3;
  const C = 5;
  const rng = new Rng(700);
  const x = rng.normals(rows * C, 1.5);
  const w = rng.normals(C, 0.7).map((v) => v + 1);
  const b = rng.normals(C);
  const r = rng.normals(rows * C);
  const loss = (xx: F64) => project(r, layernormRef(xx, w, b, rows, C).y);
  const { dx } = layernormBackwardRef(x, w, r, rows, C);

  it('accepts the correct layernorm dx', () => {
    expect(gradMismatch(x, loss, dx)).toBeNull();
  });

  it('rejects the layernorm dx with its sign flipped', () => {
    const wrong = dx.map((v) => -v);
    expect(gradMismatch(x, loss, wrong)).not.toBeNull();
    expect(() => expectGrad('dx (sign flipped)', x, loss, wrong)).toThrow();
  });

  it('rejects a single element off by 1e-4 (the tolerance is tight enough to see a small local bug)', () => {
    const wrong = Float64Array.from(dx);
    wrong[7] = wrong[7]! + 1e-4;
    expect(gradMismatch(x, loss, wrong)?.index).toBe(7);
  });

  it('rejects NaN', () => {
    const wrong = Float64Array.from(dx);
    wrong[0] = NaN;
    expect(gradMismatch(x, loss, wrong)?.index).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------
// Optimizer references (no gradients to check: properties and hand computations)
// ---------------------------------------------------------------------------------------------------

describe('newtonSchulzRef', () => {
  // The quintic's coefficients trade exact convergence for speed: after 5 steps the singular values sit in
  // a band around 1, not at 1. Measured over 10,000 random 5×8 and 8×5 Gaussian matrices (seeds 1..5000):
  // σ ∈ [0.682, 1.135] and max|XXᵀ − I| ≤ 0.533. So the asserted band [0.5, 1.5] has wide margin, and the
  // max-abs bound is 0.65, not 0.5: 0.5 is exceeded by some random draws (the σ ≈ 0.68 floor alone gives
  // 1 − 0.68² ≈ 0.54 on the diagonal), so it would only pass for lucky seeds.
  for (const [R, C] of [
    [5, 8],
    [8, 5],
  ] as const) {
    it(`${R}×${C}: singular values in [0.5, 1.5] and max|${R < C ? 'XXᵀ' : 'XᵀX'} − I| < 0.65`, () => {
      const rng = new Rng(800 + R);
      const G = rng.normals(R * C);
      const X = newtonSchulzRef(G, R, C);
      expect(X.length).toBe(R * C);
      // Gram matrix on the short side, whose eigenvalues are the squared singular values.
      const n = Math.min(R, C);
      const k = Math.max(R, C);
      const wide = R <= C;
      const gram = matmulRef(X, X, null, { M: n, N: n, K: k, batch: 1, transA: !wide, transB: wide });
      let maxDev = 0;
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) maxDev = Math.max(maxDev, Math.abs(gram[i * n + j]! - (i === j ? 1 : 0)));
      expect(maxDev).toBeLessThan(0.65);
      const eig = symmetricEigenvalues(gram, n);
      // The eigensolver is test code too: its eigenvalues must at least sum to the trace.
      let trace = 0;
      for (let i = 0; i < n; i++) trace += gram[i * n + i]!;
      expect(eig.reduce((a, e) => a + e, 0)).toBeCloseTo(trace, 10);
      const sv = eig.map((e) => Math.sqrt(Math.max(e, 0)));
      for (const s of sv) {
        expect(s).toBeGreaterThan(0.5);
        expect(s).toBeLessThan(1.5);
      }
    });
  }

  it('tall input is handled as the transpose of the wide one', () => {
    const rng = new Rng(810);
    const G = rng.normals(5 * 8);
    const wide = newtonSchulzRef(G, 5, 8);
    const tall = newtonSchulzRef(transposeRef(G, 5, 8), 8, 5);
    const back = transposeRef(tall, 8, 5);
    for (let i = 0; i < wide.length; i++) expect(back[i]).toBeCloseTo(wide[i]!, 12);
  });
});

describe('adamwStepRef', () => {
  it('one clipped step at step 3 from nonzero state matches the hand computation', () => {
    const h: AdamWHyper = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, wd: 0.1, maxNorm: 1 };
    const p = Float64Array.from([0.5]);
    const g = Float64Array.from([2]);
    const m = Float64Array.from([0.1]);
    const v = Float64Array.from([0.04]);
    const gradNorm = 4; // above maxNorm, so the gradient is scaled down
    adamwStepRef(p, g, m, v, 3, h, gradNorm);

    // PyTorch AdamW semantics, written out by hand.
    const clip = Math.min(1, 1 / (4 + 1e-6)); // min(1, maxNorm / (norm + 1e-6))
    const gi = 2 * clip;
    const m1 = 0.9 * 0.1 + (1 - 0.9) * gi;
    const v1 = 0.95 * 0.04 + (1 - 0.95) * gi * gi;
    const bc1 = 1 - 0.9 ** 3;
    const bc2 = 1 - 0.95 ** 3;
    const p1 = 0.5 * (1 - 0.01 * 0.1) - (0.01 * (m1 / bc1)) / (Math.sqrt(v1 / bc2) + 1e-8);

    expect(m[0]).toBeCloseTo(m1, 14);
    expect(v[0]).toBeCloseTo(v1, 14);
    expect(p[0]).toBeCloseTo(p1, 14);
    // The same numbers evaluated independently (Python, f64), so a shared slip in the formula above and in
    // the reference would still be caught.
    expect(m[0]).toBeCloseTo(0.13999998750000314, 12);
    expect(v[0]).toBeCloseTo(0.050499993750002345, 12);
    expect(p[0]).toBeCloseTo(0.49081817824321894, 12);
  });

  it('first step from zero state without clipping moves by lr·sign(g), plus decoupled decay', () => {
    // At step 1 bias correction makes m̂ = g and v̂ = g², so the Adam step is lr·g/(|g| + eps) ≈ ±lr.
    const h: AdamWHyper = { lr: 0.02, beta1: 0.9, beta2: 0.999, eps: 1e-8, wd: 0.5, maxNorm: 0 };
    const p = Float64Array.from([1.5]);
    const g = Float64Array.from([-3]);
    const m = new Float64Array(1);
    const v = new Float64Array(1);
    adamwStepRef(p, g, m, v, 1, h, 1e9); // maxNorm = 0 disables clipping whatever the norm
    const expected = 1.5 * (1 - 0.02 * 0.5) - (0.02 * -3) / (3 + 1e-8);
    expect(p[0]).toBeCloseTo(expected, 14);
    expect(p[0]).toBeCloseTo(1.485 + 0.02, 8);
    expect(m[0]).toBeCloseTo(0.1 * -3, 14);
    expect(v[0]).toBeCloseTo(0.001 * 9, 14);
  });
});
