// Batched matmul with optional transposes and epilogue:
//   C[b] = alpha · op(A[b]) · op(B[b]) + bias + beta · C[b]
// op(A) is [M,K]: A is stored [M,K], or [K,M] when TRANS_A. op(B) is [K,N]: B is stored [K,N], or [N,K] when TRANS_B.
// Bias [N] is added per column when HAS_BIAS. C is read only when beta != 0 (so an uninitialised C is fine).
// Register tiling with scalar global loads (the tile, K loop and epilogue: shaders/lib/matmul_tile.wgsl; TILE = 8·WG:
// 128 with 16×16 threads, 64 with 8×8). The launcher also has the plain 64×64, 4×4-per-thread kernel
// (matmul_simple.wgsl) and a vec4-load twin of this one (matmul_v4.wgsl), and picks per shape, by timing where it may.
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
const WG: u32 = 16u; // 8 in the 64×64 variant (the launcher substitutes this line)

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

//#include matmul_tile

// Operand elements each thread stages per K slice: TK·TILE / WG² = 128 / WG (8 or 16). All constants: every loop
// has a compile-time trip count, so the per-thread arrays can live in registers.
alias Frag = f32;
const LOADS: u32 = (TK * TILE) / (WG * WG);

fn loadA(base: u32, m0: u32, k0: u32, e: u32) -> f32 {
  // Consecutive threads walk the stored layout's contiguous dimension.
  var m: u32; var k: u32;
  if (TRANS_A) { k = e / TILE; m = e % TILE; } else { m = e / TK; k = e % TK; }
  let gm = m0 + m;
  let gk = k0 + k;
  if (gm >= p.M || gk >= p.K) { return 0.0; }
  if (TRANS_A) { return A[base + gk * p.M + gm]; }
  return A[base + gm * p.K + gk];
}

fn loadB(base: u32, n0: u32, k0: u32, e: u32) -> f32 {
  var n: u32; var k: u32;
  if (TRANS_B) { n = e / TK; k = e % TK; } else { k = e / TILE; n = e % TILE; }
  let gn = n0 + n;
  let gk = k0 + k;
  if (gn >= p.N || gk >= p.K) { return 0.0; }
  if (TRANS_B) { return B[base + gn * p.K + gk]; }
  return B[base + gk * p.N + gn];
}

// Element e of a thread's staged slice into workgroup memory: (k, m) → As[k][m].
fn stageA(e: u32, v: f32) {
  var m: u32; var k: u32;
  if (TRANS_A) { k = e / TILE; m = e % TILE; } else { m = e / TK; k = e % TK; }
  As[k * Q + m / 4u][m % 4u] = v;
}

fn stageB(e: u32, v: f32) {
  var n: u32; var k: u32;
  if (TRANS_B) { n = e / TK; k = e % TK; } else { k = e / TILE; n = e % TILE; }
  Bs[k * Q + n / 4u][n % 4u] = v;
}
