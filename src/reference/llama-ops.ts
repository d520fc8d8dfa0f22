// f64 CPU references of the Llama family's ops (RMSNorm, SwiGLU, rotary embedding packed into qkv), written from
// their definitions (DESIGN.md "Llama-family forward") with plain loops; tests/unit/reference.test.ts checks each
// backward against finite differences of its forward, and the kernels are checked against these.

import type { F64 } from './linalg';

/** y = x·rsqrt(mean(x²) + eps)·w per row of x [rows, C]. */
export function rmsnormRef(x: ArrayLike<number>, w: ArrayLike<number>, rows: number, C: number, eps: number): F64 {
  const y = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[r * C + c]! ** 2;
    const inv = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = x[r * C + c]! * inv * w[c]!;
  }
  return y;
}

/** dx and dw of RMSNorm for dy, by the chain rule through ss = Σx² (not the kernels' x̂ form). */
export function rmsnormBackwardRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  dy: ArrayLike<number>,
  rows: number,
  C: number,
  eps: number,
): { dx: F64; dw: F64 } {
  const dx = new Float64Array(rows * C);
  const dw = new Float64Array(C);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[r * C + c]! ** 2;
    const m = ss / C + eps;
    const inv = 1 / Math.sqrt(m);
    // y_c = x_c·w_c·m^(−1/2):  ∂y_c/∂x_j = w_c·(δ_cj·m^(−1/2) − x_c·x_j·m^(−3/2)/C)
    let k = 0; // Σ_c dy_c·w_c·x_c
    for (let c = 0; c < C; c++) {
      k += dy[r * C + c]! * w[c]! * x[r * C + c]!;
      dw[c] += dy[r * C + c]! * x[r * C + c]! * inv;
    }
    for (let j = 0; j < C; j++)
      dx[r * C + j] = dy[r * C + j]! * w[j]! * inv - (x[r * C + j]! * k * inv * inv * inv) / C;
  }
  return { dx, dw };
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** silu(g)·u elementwise. */
export function swigluRef(g: ArrayLike<number>, u: ArrayLike<number>): F64 {
  return Float64Array.from({ length: g.length }, (_, i) => g[i]! * sigmoid(g[i]!) * u[i]!);
}

export function swigluBackwardRef(
  g: ArrayLike<number>,
  u: ArrayLike<number>,
  dy: ArrayLike<number>,
): { dg: F64; du: F64 } {
  const n = g.length;
  const dg = new Float64Array(n);
  const du = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = sigmoid(g[i]!);
    // d(g·s)/dg = s + g·s·(1 − s)
    dg[i] = dy[i]! * u[i]! * (s + g[i]! * s * (1 - s));
    du[i] = dy[i]! * g[i]! * s;
  }
  return { dg, du };
}

export interface RopeDims {
  B: number;
  T: number;
  H: number;
  KV: number;
  D: number;
}

/**
 * The 2×2 rotation of pair (i, i + D/2) at position t, [cos, sin] of the angle t·θᵢ, which is an f32 product by
 * definition (PyTorch forms it so: at t = 4000 its rounding moves the angle by up to 2⁻¹² rad).
 */
function angle(invFreq: ArrayLike<number>, t: number, i: number): [number, number] {
  const a = Math.fround(t * invFreq[i]!);
  return [Math.cos(a), Math.sin(a)];
}

/**
 * q [B,T,H·D], k and v [B,T,KV·D] → qkv [B,T,(H+2KV)·D]: each q and k head's pair (x_i, x_{i+D/2}) multiplied by the
 * rotation matrix [[c, −s], [s, c]] of its position; v copied.
 */
export function ropeQkvRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  invFreq: ArrayLike<number>,
  d: RopeDims,
): F64 {
  const { B, T, H, KV, D } = d;
  const W = (H + 2 * KV) * D;
  const out = new Float64Array(B * T * W);
  const half = D / 2;
  for (let row = 0; row < B * T; row++) {
    const t = row % T;
    const parts: [ArrayLike<number>, number, boolean][] = [
      [q, H, true],
      [k, KV, true],
      [v, KV, false],
    ];
    let col = 0;
    for (const [src, heads, rotate] of parts) {
      for (let h = 0; h < heads; h++) {
        const base = row * heads * D + h * D;
        for (let i = 0; i < half; i++) {
          const x0 = src[base + i]!;
          const x1 = src[base + i + half]!;
          const [c, s] = rotate ? angle(invFreq, t, i) : [1, 0];
          out[row * W + col + i] = c * x0 - s * x1;
          out[row * W + col + i + half] = s * x0 + c * x1;
        }
        col += D;
      }
    }
  }
  return out;
}

/** dq, dk, dv from dqkv: each pair multiplied by the transposed rotation (rotation matrices are orthogonal). */
export function ropeQkvBackwardRef(
  dqkv: ArrayLike<number>,
  invFreq: ArrayLike<number>,
  d: RopeDims,
): { dq: F64; dk: F64; dv: F64 } {
  const { B, T, H, KV, D } = d;
  const W = (H + 2 * KV) * D;
  const half = D / 2;
  const dq = new Float64Array(B * T * H * D);
  const dk = new Float64Array(B * T * KV * D);
  const dv = new Float64Array(B * T * KV * D);
  for (let row = 0; row < B * T; row++) {
    const t = row % T;
    const parts: [F64, number, boolean][] = [
      [dq, H, true],
      [dk, KV, true],
      [dv, KV, false],
    ];
    let col = 0;
    for (const [dst, heads, rotate] of parts) {
      for (let h = 0; h < heads; h++) {
        const base = row * heads * D + h * D;
        for (let i = 0; i < half; i++) {
          const g0 = dqkv[row * W + col + i]!;
          const g1 = dqkv[row * W + col + i + half]!;
          const [c, s] = rotate ? angle(invFreq, t, i) : [1, 0];
          dst[base + i] = c * g0 + s * g1;
          dst[base + i + half] = -s * g0 + c * g1;
        }
        col += D;
      }
    }
  }
  return { dq, dk, dv };
}
