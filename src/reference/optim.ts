// Plain f64 references for the optimizer kernels: AdamW (with global-norm clipping), Muon momentum, Newton–Schulz.

import { matmulRef, transposeRef, type F64 } from './linalg';

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  wd: number;
  /** Global-norm clip threshold; 0 disables clipping. */
  maxNorm: number;
}

/** One AdamW step in place on p, m, v (1-based step); gradNorm is the global norm used for clipping. */
export function adamwStepRef(p: F64, g: F64, m: F64, v: F64, step: number, h: AdamWHyper, gradNorm: number): void {
  const k = h.maxNorm > 0 ? Math.min(1, h.maxNorm / (gradNorm + 1e-6)) : 1;
  const bc1 = 1 - h.beta1 ** step;
  const bc2 = 1 - h.beta2 ** step;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]! * k;
    m[i] = h.beta1 * m[i]! + (1 - h.beta1) * gi;
    v[i] = h.beta2 * v[i]! + (1 - h.beta2) * gi * gi;
    p[i] = p[i]! * (1 - h.lr * h.wd) - (h.lr * (m[i]! / bc1)) / (Math.sqrt(v[i]! / bc2) + h.eps);
  }
}

/** buf = μ·buf + g in place; returns the Nesterov update g + μ·buf (or buf). */
export function muonMomentumRef(g: F64, buf: F64, mu: number, nesterov = true): F64 {
  const u = new Float64Array(g.length);
  for (let i = 0; i < g.length; i++) {
    buf[i] = mu * buf[i]! + g[i]!;
    u[i] = nesterov ? g[i]! + mu * buf[i]! : buf[i]!;
  }
  return u;
}

export const NS_COEFFS = [3.4445, -4.775, 2.0315] as const;

/**
 * Newton–Schulz quintic orthogonalisation of G [R, C]: X = G/(‖G‖_F + 1e-7) (transposed when R > C), then
 * `steps` times X ← aX + (bA + cA²)X with A = XXᵀ. Returns [R, C].
 */
export function newtonSchulzRef(G: F64, R: number, C: number, steps = 5): F64 {
  const [a, b, c] = NS_COEFFS;
  const tall = R > C;
  let X = tall ? transposeRef(G, R, C) : Float64Array.from(G);
  const r = tall ? C : R;
  const k = tall ? R : C;
  let norm = 0;
  for (const v of X) norm += v * v;
  norm = Math.sqrt(norm) + 1e-7;
  X = X.map((v) => v / norm);
  const dims = (M: number, N: number, K: number, transB = false) => ({ M, N, K, batch: 1, transA: false, transB });
  for (let s = 0; s < steps; s++) {
    const A = matmulRef(X, X, null, dims(r, r, k, true));
    const AA = matmulRef(A, A, null, dims(r, r, r));
    const Bm = A.map((v, i) => b * v + c * AA[i]!);
    const BX = matmulRef(Bm, X, null, dims(r, k, r));
    X = X.map((v, i) => a * v + BX[i]!);
  }
  return tall ? transposeRef(X, C, R) : X;
}
