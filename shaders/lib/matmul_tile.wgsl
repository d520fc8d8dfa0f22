// The register-tiled matmul shared by matmul.wgsl (scalar global loads) and matmul_v4.wgsl (vec4 global loads): the
// including file declares WG, the bindings and how one operand fragment is loaded and staged; this part holds the
// tile, the K loop and the epilogue. A TILE×TILE block of C per workgroup (TILE = 8·WG), 8×8 per thread as two 4-row
// × two 4-column quads (rows ty·4+i and TILE/2+ty·4+i, columns likewise with tx), so every thread reads its operands
// from workgroup memory as four vec4s per k. The next K slice is fetched into registers while the current one is
// multiplied.
struct Params {
  M: u32, N: u32, K: u32,
  strideA: u32, strideB: u32, strideC: u32, // elements between batch entries (0 broadcasts)
  alpha: f32, beta: f32,
}

const TK: u32 = 16u;
const TILE: u32 = 8u * WG;
const Q: u32 = TILE / 4u; // vec4s per k-row of a tile
var<workgroup> As: array<vec4<f32>, TK * Q>; // [k][m / 4]
var<workgroup> Bs: array<vec4<f32>, TK * Q>; // [k][n / 4]

// acc[r * 2 + h] (row r of 8, column half h) += the staged slice's products, k in order.
fn multiplySlice(acc: ptr<function, array<vec4<f32>, 16>>, lid: vec3u) {
  let half = Q / 2u;
  for (var kk = 0u; kk < TK; kk++) {
    let a0 = As[kk * Q + lid.y];
    let a1 = As[kk * Q + half + lid.y];
    let b0 = Bs[kk * Q + lid.x];
    let b1 = Bs[kk * Q + half + lid.x];
    for (var i = 0u; i < 4u; i++) {
      (*acc)[i * 2u] = fma(vec4<f32>(a0[i]), b0, (*acc)[i * 2u]);
      (*acc)[i * 2u + 1u] = fma(vec4<f32>(a0[i]), b1, (*acc)[i * 2u + 1u]);
      (*acc)[(i + 4u) * 2u] = fma(vec4<f32>(a1[i]), b0, (*acc)[(i + 4u) * 2u]);
      (*acc)[(i + 4u) * 2u + 1u] = fma(vec4<f32>(a1[i]), b1, (*acc)[(i + 4u) * 2u + 1u]);
    }
  }
}

// C = alpha·acc + bias + beta·C over the thread's 8×8 outputs inside M×N.
fn storeTile(acc: ptr<function, array<vec4<f32>, 16>>, m0: u32, n0: u32, cBase: u32, lid: vec3u) {
  for (var r = 0u; r < 8u; r++) {
    let gm = m0 + (r / 4u) * (TILE / 2u) + lid.y * 4u + r % 4u;
    if (gm >= p.M) { continue; }
    for (var h = 0u; h < 2u; h++) {
      let v4 = (*acc)[r * 2u + h];
      for (var j = 0u; j < 4u; j++) {
        let gn = n0 + h * (TILE / 2u) + lid.x * 4u + j;
        if (gn >= p.N) { continue; }
        let idx = cBase + gm * p.N + gn;
        var v = p.alpha * v4[j];
        if (HAS_BIAS) { v += bias[gn]; }
        if (p.beta != 0.0) { v += p.beta * C[idx]; }
        C[idx] = v;
      }
    }
  }
}

// The kernel: stage slice 0, then for each K slice store the staged fragments into As/Bs, fetch the next slice into
// registers, and multiply. The including file defines Frag (what one load returns), LOADS (loads per thread per
// operand per slice), loadA/loadB(base, tile origin, k0, e) -> Frag and stageA/stageB(e, Frag).
@compute @workgroup_size(WG, WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let m0 = wid.y * TILE;
  let n0 = wid.x * TILE;
  let aBase = wid.z * p.strideA;
  let bBase = wid.z * p.strideB;
  let cBase = wid.z * p.strideC;
  let threads = WG * WG;
  var acc: array<vec4<f32>, 16>; // row r (0..7) × column half h: acc[r * 2 + h]
  var ra: array<Frag, LOADS>;
  var rb: array<Frag, LOADS>;
  for (var i = 0u; i < LOADS; i++) {
    ra[i] = loadA(aBase, m0, 0u, li + i * threads);
    rb[i] = loadB(bBase, n0, 0u, li + i * threads);
  }
  for (var k0 = 0u; k0 < p.K; k0 += TK) {
    for (var i = 0u; i < LOADS; i++) {
      stageA(li + i * threads, ra[i]);
      stageB(li + i * threads, rb[i]);
    }
    workgroupBarrier();
    if (k0 + TK < p.K) {
      for (var i = 0u; i < LOADS; i++) {
        ra[i] = loadA(aBase, m0, k0 + TK, li + i * threads);
        rb[i] = loadB(bBase, n0, k0 + TK, li + i * threads);
      }
    }
    multiplySlice(&acc, lid);
    workgroupBarrier();
  }
  storeTile(&acc, m0, n0, cBase, lid);
}
