// Batched matmul with optional transposes and epilogue:
//   C[b] = alpha · op(A[b]) · op(B[b]) + bias + beta · C[b]
// op(A) is [M,K]: A is stored [M,K], or [K,M] when TRANS_A. op(B) is [K,N]: B is stored [K,N], or [N,K] when TRANS_B.
// Bias [N] is added per column when HAS_BIAS. C is read only when beta != 0 (so an uninitialised C is fine).
// The output include (matmul_out.wgsl) stores each value; the launcher swaps it for an epilogue (a residual add,
// or GELU into a second output) with beta 0.
// A 64×64 tile of C per workgroup, 4×4 per thread (rows ty+16i, columns 4tx+j), K in steps of 16 through shared memory.
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;

struct Params {
  M: u32, N: u32, K: u32,
  strideA: u32, strideB: u32, strideC: u32, // elements between batch entries (0 broadcasts)
  alpha: f32, beta: f32,
  kChunk: u32, // split-K: batch entry z sums k in [z·kChunk, (z+1)·kChunk) only (0: all of K)
}

//#include matmul_a_f32
//#include matmul_b_f32
@group(0) @binding(2) var<storage, read> bias: array<f32>;
//#include matmul_out

const TILE: u32 = 64u;
const TK: u32 = 16u;
var<workgroup> As: array<f32, 1024>; // [k][m], TK × TILE
var<workgroup> Bs: array<f32, 1024>; // [k][n], TK × TILE

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let m0 = wid.y * TILE;
  let n0 = wid.x * TILE;
  let aBase = wid.z * p.strideA;
  let bBase = wid.z * p.strideB;
  let cBase = wid.z * p.strideC;
  let kBegin = wid.z * p.kChunk; // a multiple of 64 (the launcher's choice)
  let kEnd = select(p.K, min(p.K, kBegin + p.kChunk), p.kChunk != 0u);
  var acc: array<f32, 16>;
  for (var k0 = kBegin; k0 < kEnd; k0 += TK) {
    for (var i = 0u; i < 4u; i++) {
      let e = li + i * 256u;
      // Walk the stored layout's contiguous dimension with consecutive threads.
      var m: u32; var ka: u32;
      if (TRANS_A) { ka = e / TILE; m = e % TILE; } else { m = e / TK; ka = e % TK; }
      let gm = m0 + m;
      let gka = k0 + ka;
      var a = 0.0;
      if (gm < p.M && gka < kEnd) {
        if (TRANS_A) { a = readA(aBase + gka * p.M + gm); } else { a = readA(aBase + gm * p.K + gka); }
      }
      As[ka * TILE + m] = a;
      var n: u32; var kb: u32;
      if (TRANS_B) { n = e / TK; kb = e % TK; } else { kb = e / TILE; n = e % TILE; }
      let gn = n0 + n;
      let gkb = k0 + kb;
      var b = 0.0;
      if (gn < p.N && gkb < kEnd) {
        if (TRANS_B) { b = readB(bBase + gn * p.K + gkb); } else { b = readB(bBase + gkb * p.N + gn); }
      }
      Bs[kb * TILE + n] = b;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        av[i] = As[kk * TILE + lid.y + 16u * i];
        bv[i] = Bs[kk * TILE + 4u * lid.x + i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i * 4u + j] = fma(av[i], bv[j], acc[i * 4u + j]);
        }
      }
    }
    workgroupBarrier();
  }
  // Four consecutive columns per thread, so an epilogue can store them as a quad (halves in pairs).
  let gn = n0 + 4u * lid.x;
  if (gn >= p.N) { return; }
  let count = min(4u, p.N - gn);
  for (var i = 0u; i < 4u; i++) {
    let gm = m0 + lid.y + 16u * i;
    if (gm >= p.M) { continue; }
    let idx = cBase + gm * p.N + gn;
    var x = vec4<f32>(0.0);
    for (var j = 0u; j < count; j++) {
      var v = p.alpha * acc[i * 4u + j];
      if (HAS_BIAS) { v += bias[gn + j]; }
      if (p.beta != 0.0) { v += p.beta * C[idx + j]; }
      x[j] = v;
    }
    storeC4(idx, x, count);
  }
}
