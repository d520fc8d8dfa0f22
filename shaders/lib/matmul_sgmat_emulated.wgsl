// matmul_sgmat_hw.wgsl's functions without subgroup matrices or shader-f16, for testing matmul_sgmat.wgsl's tiling,
// addressing and epilogues on any adapter: each invocation holds whole matrices (row-major arrays of f32: a half
// widens exactly) and multiplies them itself, summing each output's K products in order with fma. A and B are halves
// two per u32 (element 2i in the low bits: array<f16>'s layout). Every invocation of a "subgroup" (SGSIZE consecutive
// invocations) computes the same matrices and stores the same values. Slow, and for tests only.
@group(0) @binding(0) var<storage, read> A: array<u32>;
@group(0) @binding(1) var<storage, read> B: array<u32>;

struct Left { v: array<f32, SM * SK> }
struct Right { v: array<f32, SK * SN> }
struct Result { v: array<f32, SM * SN> }

// The hardware version's entry-point struct holds subgroup_id; here something any adapter has.
struct Lanes {
  @builtin(num_workgroups) unused: vec3u,
}

fn subgroupIndex(x: Lanes, li: u32) -> u32 { return li / SGSIZE; }

fn halfA(i: u32) -> f32 {
  let w = unpack2x16float(A[i >> 1u]);
  return select(w.x, w.y, (i & 1u) == 1u);
}

fn halfB(i: u32) -> f32 {
  let w = unpack2x16float(B[i >> 1u]);
  return select(w.x, w.y, (i & 1u) == 1u);
}

// Element (i, j) of a row-major matrix at off with rows `stride` apart is at off + i·stride + j; column-major, at
// off + j·stride + i.
fn leftRows(off: u32, stride: u32) -> Left {
  var x: Left;
  for (var i = 0u; i < SM; i++) { for (var j = 0u; j < SK; j++) { x.v[i * SK + j] = halfA(off + i * stride + j); } }
  return x;
}

fn leftCols(off: u32, stride: u32) -> Left {
  var x: Left;
  for (var i = 0u; i < SM; i++) { for (var j = 0u; j < SK; j++) { x.v[i * SK + j] = halfA(off + j * stride + i); } }
  return x;
}

fn rightRows(off: u32, stride: u32) -> Right {
  var x: Right;
  for (var i = 0u; i < SK; i++) { for (var j = 0u; j < SN; j++) { x.v[i * SN + j] = halfB(off + i * stride + j); } }
  return x;
}

fn rightCols(off: u32, stride: u32) -> Right {
  var x: Right;
  for (var i = 0u; i < SK; i++) { for (var j = 0u; j < SN; j++) { x.v[i * SN + j] = halfB(off + j * stride + i); } }
  return x;
}

// matmul_sgmat_staged's K slices in workgroup memory (widened halves), and their loads.
var<workgroup> As: array<f32, BM * TK>;
var<workgroup> Bs: array<f32, TK * BN>;

fn leftStaged(off: u32) -> Left {
  var x: Left;
  for (var i = 0u; i < SM; i++) { for (var j = 0u; j < SK; j++) { x.v[i * SK + j] = As[off + i * TK + j]; } }
  return x;
}

fn rightStaged(off: u32) -> Right {
  var x: Right;
  for (var i = 0u; i < SK; i++) { for (var j = 0u; j < SN; j++) { x.v[i * SN + j] = Bs[off + i * BN + j]; } }
  return x;
}

fn multiplyAdd(l: Left, r: Right, acc: Result) -> Result {
  var out = acc;
  for (var i = 0u; i < SM; i++) {
    for (var j = 0u; j < SN; j++) {
      var s = out.v[i * SN + j];
      for (var k = 0u; k < SK; k++) { s = fma(l.v[i * SK + k], r.v[k * SN + j], s); }
      out.v[i * SN + j] = s;
    }
  }
  return out;
}

fn storeResult(off: u32, acc: Result) {
  for (var i = 0u; i < SM; i++) { for (var j = 0u; j < SN; j++) { Ct[off + i * BN + j] = acc.v[i * SN + j]; } }
}
