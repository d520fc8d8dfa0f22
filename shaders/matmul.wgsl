// Batched matmul with optional transposes and epilogue:
//   C[b] = alpha · op(A[b]) · op(B[b]) + bias + beta · C[b]
// op(A) is [M,K]: A is stored [M,K], or [K,M] when TRANS_A. op(B) is [K,N]: B is stored [K,N], or [N,K] when TRANS_B.
// Bias [N] is added per column when HAS_BIAS. C is read only when beta != 0 (so an uninitialised C is fine).
// The output include (matmul_out.wgsl) stores each value; the launcher swaps it for an epilogue (a residual add,
// or GELU into a second output) with beta 0.
// Register tiling with scalar global loads (the tile, K loop and epilogue: shaders/lib/matmul_tile.wgsl; TILE = 8·WG:
// 128 with 16×16 threads, 64 with 8×8). The launcher also has the plain 64×64, 4×4-per-thread kernel
// (matmul_simple.wgsl) and a vec4-load twin of this one (matmul_v4.wgsl), and picks per shape, by timing where it may.
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
const WG: u32 = 16u; // 8 in the 64×64 variant (the launcher substitutes this line)
const TK: u32 = 8u; // K slice depth; 16 in the k16 variants (the launcher substitutes this line)

//#include matmul_a_f32
//#include matmul_b_f32
@group(0) @binding(2) var<storage, read> bias: array<f32>;
//#include matmul_out

//#include matmul_tile

// Element (m, k) of op(A) and (k, n) of op(B), batch entry at base; zero outside the operand.
fn elemA(base: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= kEnd) { return 0.0; }
  if (TRANS_A) { return readA(base + k * p.M + m); }
  return readA(base + m * p.K + k);
}

fn elemB(base: u32, k: u32, n: u32) -> f32 {
  if (n >= p.N || k >= kEnd) { return 0.0; }
  if (TRANS_B) { return readB(base + n * p.K + k); }
  return readB(base + k * p.N + n);
}

// Fragment f of a thread is the slice's vec4 slot s = li + f·THREADS: row k, quad q (four consecutive m or n), one
// whole vec4 store. Along m or n (A as [K,M], B as [K,N]) consecutive threads take consecutive quads of one k. Along
// k (A as [M,K], B as [N,K]) each 8 consecutive threads take 8 quads at one k (8 distinct banks when staging) and
// the next 8 the next k, so a load instruction reads 16-byte runs of k from 8 rows.
fn sliceK(s: u32, kContiguous: bool) -> u32 {
  if (kContiguous) { return (s / 8u) % TK; }
  return s / Q;
}

fn sliceQ(s: u32, kContiguous: bool) -> u32 {
  if (kContiguous) { return s % 8u + 8u * (s / (8u * TK)); }
  return s % Q;
}

fn loadA(base: u32, m0: u32, k0: u32, li: u32, f: u32) -> vec4<f32> {
  let s = li + f * THREADS;
  let k = k0 + sliceK(s, !TRANS_A);
  let m = m0 + 4u * sliceQ(s, !TRANS_A);
  return vec4<f32>(elemA(base, m, k), elemA(base, m + 1u, k), elemA(base, m + 2u, k), elemA(base, m + 3u, k));
}

fn loadB(base: u32, n0: u32, k0: u32, li: u32, f: u32) -> vec4<f32> {
  let s = li + f * THREADS;
  let k = k0 + sliceK(s, TRANS_B);
  let n = n0 + 4u * sliceQ(s, TRANS_B);
  return vec4<f32>(elemB(base, k, n), elemB(base, k, n + 1u), elemB(base, k, n + 2u), elemB(base, k, n + 3u));
}

fn stageA(o: u32, li: u32, f: u32, v: vec4<f32>) {
  let s = li + f * THREADS;
  As[o + slot(sliceK(s, !TRANS_A), sliceQ(s, !TRANS_A))] = v;
}

fn stageB(o: u32, li: u32, f: u32, v: vec4<f32>) {
  let s = li + f * THREADS;
  Bs[o + slot(sliceK(s, TRANS_B), sliceQ(s, TRANS_B))] = v;
}
