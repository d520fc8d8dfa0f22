// The register-tiled matmul of matmul.wgsl (same tile, same products in the same order: bit-identical to it) with
// vec4 global loads along each operand's contiguous dimension, a quarter of the load instructions:
//   C[b] = alpha · op(A[b]) · op(B[b]) + bias + beta · C[b]
// A and B are bound as vec4 arrays, so the launcher picks this kernel only when the contiguous dimension of each
// (A: K, or M when TRANS_A; B: N, or K when TRANS_B) and both batch strides are multiples of 4. With that, a quad is
// wholly inside or wholly outside M, N and K (tiles and K slices start on multiples of 4).
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
const WG: u32 = 16u;

@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

//#include matmul_tile

// Quads each thread stages per operand per K slice: TK·TILE / (4·WG²) = 2.
alias Frag = vec4<f32>;
const LOADS: u32 = (TK * TILE) / (4u * WG * WG);
const KQ: u32 = TK / 4u; // quads along k in a slice row

// Quad e of A's slice. Along k (A stored [M,K]): row m = e / KQ, k = 4·(e % KQ). Along m (TRANS_A, [K,M]): k = e / Q,
// m = 4·(e % Q). Consecutive threads walk the stored layout's contiguous dimension.
fn loadA(base: u32, m0: u32, k0: u32, e: u32) -> vec4<f32> {
  var m: u32; var k: u32;
  if (TRANS_A) { k = e / Q; m = 4u * (e % Q); } else { m = e / KQ; k = 4u * (e % KQ); }
  let gm = m0 + m;
  let gk = k0 + k;
  if (gm >= p.M || gk >= p.K) { return vec4<f32>(0.0); }
  if (TRANS_A) { return A[(base + gk * p.M + gm) / 4u]; }
  return A[(base + gm * p.K + gk) / 4u];
}

fn loadB(base: u32, n0: u32, k0: u32, e: u32) -> vec4<f32> {
  var n: u32; var k: u32;
  if (TRANS_B) { n = e / KQ; k = 4u * (e % KQ); } else { k = e / Q; n = 4u * (e % Q); }
  let gn = n0 + n;
  let gk = k0 + k;
  if (gn >= p.N || gk >= p.K) { return vec4<f32>(0.0); }
  if (TRANS_B) { return B[(base + gn * p.K + gk) / 4u]; }
  return B[(base + gk * p.N + gn) / 4u];
}

// A quad along m or n is one vec4 of the [k][m / 4] layout; a quad along k is four scalars down a column.
fn stageA(e: u32, v: vec4<f32>) {
  if (TRANS_A) {
    As[(e / Q) * Q + e % Q] = v;
  } else {
    let m = e / KQ;
    let k = 4u * (e % KQ);
    for (var j = 0u; j < 4u; j++) { As[(k + j) * Q + m / 4u][m % 4u] = v[j]; }
  }
}

fn stageB(e: u32, v: vec4<f32>) {
  if (TRANS_B) {
    let n = e / KQ;
    let k = 4u * (e % KQ);
    for (var j = 0u; j < 4u; j++) { Bs[(k + j) * Q + n / 4u][n % 4u] = v[j]; }
  } else {
    Bs[(e / Q) * Q + e % Q] = v;
  }
}
