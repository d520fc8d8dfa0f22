// The register-tiled matmul of matmul.wgsl (same tile, same products in the same order: bit-identical to it) with
// vec4 global loads along each operand's contiguous dimension, a quarter of the load instructions:
//   C[b] = alpha · op(A[b]) · op(B[b]) + bias + beta · C[b]   (stored through the output include, or an epilogue)
// A and B are bound as vec4 arrays, so the launcher picks this kernel only when the contiguous dimension of each
// (A: K, or M when TRANS_A; B: N, or K when TRANS_B) and both batch strides are multiples of 4. With that, a quad is
// wholly inside or wholly outside M, N and K (tiles and K slices start on multiples of 4). Quads along k are staged
// one component at a time; WGSL allows a component store to touch the whole vec4 (a race between the four threads
// sharing one), but the SPIR-V, MSL and HLSL that Tint emits store the component alone, and the self-checks compare
// every transpose combination.
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
const WG: u32 = 16u;
const TK: u32 = 8u; // K slice depth; 16 in the k16 variant (the launcher substitutes this line)

//#include matmul_a4_f32
//#include matmul_b4_f32
@group(0) @binding(2) var<storage, read> bias: array<f32>;
//#include matmul_out

//#include matmul_tile

// Fragment f of a thread is the slice's quad u = li + f·THREADS, one vec4 load along the stored layout's contiguous
// dimension. Along m or n (A as [K,M], B as [K,N]) a quad is one slot: k = u / Q, q = u % Q. Along k (A as [M,K], B
// as [N,K]) it is four k of one row, row u / KQ, k = 4·(u % KQ), staged as one component of four slots (each store
// instruction: 16 rows × 2 slots, a 2-way bank conflict, for loads that read whole 32-byte runs).
const KQ: u32 = TK / 4u; // quads along k in a slice row

fn loadA(base: u32, m0: u32, k0: u32, li: u32, f: u32) -> vec4<f32> {
  let u = li + f * THREADS;
  var m: u32; var k: u32;
  if (TRANS_A) { k = u / Q; m = 4u * (u % Q); } else { m = u / KQ; k = 4u * (u % KQ); }
  let gm = m0 + m;
  let gk = k0 + k;
  if (gm >= p.M || gk >= kEnd) { return vec4<f32>(0.0); }
  if (TRANS_A) { return readA4((base + gk * p.M + gm) / 4u); }
  return readA4((base + gm * p.K + gk) / 4u);
}

fn loadB(base: u32, n0: u32, k0: u32, li: u32, f: u32) -> vec4<f32> {
  let u = li + f * THREADS;
  var n: u32; var k: u32;
  if (TRANS_B) { n = u / KQ; k = 4u * (u % KQ); } else { k = u / Q; n = 4u * (u % Q); }
  let gn = n0 + n;
  let gk = k0 + k;
  if (gn >= p.N || gk >= kEnd) { return vec4<f32>(0.0); }
  if (TRANS_B) { return readB4((base + gn * p.K + gk) / 4u); }
  return readB4((base + gk * p.N + gn) / 4u);
}

fn stageA(o: u32, li: u32, f: u32, v: vec4<f32>) {
  let u = li + f * THREADS;
  if (TRANS_A) {
    As[o + slot(u / Q, u % Q)] = v;
  } else {
    let m = u / KQ;
    let k = 4u * (u % KQ);
    As[o + slot(k, m / 4u)][m % 4u] = v.x;
    As[o + slot(k + 1u, m / 4u)][m % 4u] = v.y;
    As[o + slot(k + 2u, m / 4u)][m % 4u] = v.z;
    As[o + slot(k + 3u, m / 4u)][m % 4u] = v.w;
  }
}

fn stageB(o: u32, li: u32, f: u32, v: vec4<f32>) {
  let u = li + f * THREADS;
  if (TRANS_B) {
    let n = u / KQ;
    let k = 4u * (u % KQ);
    Bs[o + slot(k, n / 4u)][n % 4u] = v.x;
    Bs[o + slot(k + 1u, n / 4u)][n % 4u] = v.y;
    Bs[o + slot(k + 2u, n / 4u)][n % 4u] = v.z;
    Bs[o + slot(k + 3u, n / 4u)][n % 4u] = v.w;
  } else {
    Bs[o + slot(u / Q, u % Q)] = v;
  }
}
