// Plain-loop f64 references: matmul (all transposes, batched, bias), transpose, elementwise ops, reductions.
// Written independently of the kernels, index by index, for tests and the in-page self-check.

export type F64 = Float64Array;

/** Element (r, c) of op(X) where X is stored [rows, cols] row-major, op = transpose when t. */
function at(x: F64, base: number, r: number, c: number, storedCols: number, t: boolean): number {
  return t ? x[base + c * storedCols + r]! : x[base + r * storedCols + c]!;
}

export interface MatmulDims {
  M: number;
  N: number;
  K: number;
  batch: number;
  transA: boolean;
  transB: boolean;
  /** B shared by all batch entries (stored once). */
  broadcastB?: boolean;
}

/** C[b] = alpha·op(A[b])·op(B[b]) + bias. */
export function matmulRef(A: F64, B: F64, bias: F64 | null, d: MatmulDims, alpha = 1): F64 {
  const { M, N, K, batch, transA, transB } = d;
  const C = new Float64Array(batch * M * N);
  for (let b = 0; b < batch; b++) {
    const aB = b * M * K;
    const bB = d.broadcastB ? 0 : b * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          s += at(A, aB, m, k, transA ? M : K, transA) * at(B, bB, k, n, transB ? K : N, transB);
        }
        C[b * M * N + m * N + n] = alpha * s + (bias ? bias[n]! : 0);
      }
    }
  }
  return C;
}

/** Gradients of sum(G ∘ C) for C = matmulRef(A, B, bias): dA, dB in A's and B's stored layouts, dbias. */
export function matmulBackwardRef(A: F64, B: F64, G: F64, d: MatmulDims, alpha = 1): { dA: F64; dB: F64; dBias: F64 } {
  const { M, N, K, batch, transA, transB } = d;
  const dA = new Float64Array(A.length);
  const dB = new Float64Array(B.length);
  const dBias = new Float64Array(N);
  for (let b = 0; b < batch; b++) {
    const aB = b * M * K;
    const bB = d.broadcastB ? 0 : b * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        const g = alpha * G[b * M * N + m * N + n]!;
        dBias[n] += G[b * M * N + m * N + n]!;
        for (let k = 0; k < K; k++) {
          // C[m,n] += op(A)[m,k]·op(B)[k,n]; route each product's gradient back to the stored element.
          const ai = transA ? aB + k * M + m : aB + m * K + k;
          const bi = transB ? bB + n * K + k : bB + k * N + n;
          dA[ai] += g * B[bi]!;
          dB[bi] += g * A[ai]!;
        }
      }
    }
  }
  return { dA, dB, dBias };
}

export function transposeRef(x: F64, R: number, C: number): F64 {
  const y = new Float64Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) y[c * R + r] = x[r * C + c]!;
  return y;
}

export function addRef(a: F64, b: F64): F64 {
  return a.map((v, i) => v + b[i]!);
}

const S2PI = Math.sqrt(2 / Math.PI);

export function geluRef(x: F64): F64 {
  return x.map((v) => 0.5 * v * (1 + Math.tanh(S2PI * (v + 0.044715 * v ** 3))));
}

export function geluBackwardRef(x: F64, g: F64): F64 {
  return x.map((v, i) => {
    const t = Math.tanh(S2PI * (v + 0.044715 * v ** 3));
    return g[i]! * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * S2PI * (1 + 3 * 0.044715 * v * v));
  });
}

export function sumRef(x: F64): number {
  let s = 0;
  for (const v of x) s += v;
  return s;
}

export function l2NormRef(xs: F64[]): number {
  let s = 0;
  for (const x of xs) for (const v of x) s += v * v;
  return Math.sqrt(s);
}
