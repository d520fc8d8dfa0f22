// The register-tiled matmul shared by matmul.wgsl (scalar global loads) and matmul_v4.wgsl (vec4 global loads): the
// including file declares WG and TK, the bindings and how a thread loads and stages its part of a K slice; this part
// holds the tile, the K loop and the epilogue.
//
// A TILE×TILE block of C per workgroup (TILE = 8·WG), 8×8 per thread as two 4-row × two 4-column quads (rows ty·4+i
// and TILE/2+ty·4+i, columns likewise with tx), so every thread reads its operands from workgroup memory as four
// vec4s per k. Written for compilers that do not unroll: no function-scope array anywhere (the 64 accumulators are
// the named vec4 fields of Acc, the staged fragments are named vec4s), so nothing can be indexed at run time and
// spill to local memory.
//
// K runs in slices of TK (8 or 16) through two workgroup buffers: the slice in one is multiplied while the next, already in
// registers, is staged into the other, one barrier per slice. A slice is stored [k][x/4] (x = m or n in vec4
// components), the vec4 for (k, quad q) at k·Q + q: the multiply reads at offsets fixed per thread plus a constant
// per k, and the loaders pick which thread stages which slot so that stores meet few bank conflicts.
//#include matmul_store

var<private> kEnd: u32; // end of this workgroup's k range; the loaders read zeros from there on

const TILE: u32 = 8u * WG;
const Q: u32 = TILE / 4u; // vec4s per k-row of a slice
const THREADS: u32 = WG * WG;
const SLICE: u32 = TK * Q; // vec4s of one operand's slice
const FRAGS: u32 = SLICE / THREADS; // vec4 fragments each thread stages per operand per slice: 2·TK / WG
const_assert FRAGS >= 1u && FRAGS <= 2u && FRAGS * THREADS == SLICE; // the K loop holds two fragments at most
var<workgroup> As: array<vec4<f32>, 2u * SLICE>;
var<workgroup> Bs: array<vec4<f32>, 2u * SLICE>;

// Where the vec4 of slice row k, quad q lives in a buffer.
fn slot(k: u32, q: u32) -> u32 {
  return k * Q + q;
}

// Row r (0..7) of the thread's 8×8 block, columns tx·4.. (a) and TILE/2 + tx·4.. (b).
struct Acc {
  r0a: vec4<f32>, r0b: vec4<f32>, r1a: vec4<f32>, r1b: vec4<f32>,
  r2a: vec4<f32>, r2b: vec4<f32>, r3a: vec4<f32>, r3b: vec4<f32>,
  r4a: vec4<f32>, r4b: vec4<f32>, r5a: vec4<f32>, r5b: vec4<f32>,
  r6a: vec4<f32>, r6b: vec4<f32>, r7a: vec4<f32>, r7b: vec4<f32>,
}

// acc += the products of the slice staged at offset o, k in order (fma, so every variant rounds alike).
fn multiplySlice(acc: ptr<function, Acc>, o: u32, lid: vec3u) {
  let half = Q / 2u;
  for (var kk = 0u; kk < TK; kk++) {
    let a0 = As[o + slot(kk, lid.y)];
    let a1 = As[o + slot(kk, half + lid.y)];
    let b0 = Bs[o + slot(kk, lid.x)];
    let b1 = Bs[o + slot(kk, half + lid.x)];
    (*acc).r0a = fma(vec4<f32>(a0.x), b0, (*acc).r0a);
    (*acc).r0b = fma(vec4<f32>(a0.x), b1, (*acc).r0b);
    (*acc).r1a = fma(vec4<f32>(a0.y), b0, (*acc).r1a);
    (*acc).r1b = fma(vec4<f32>(a0.y), b1, (*acc).r1b);
    (*acc).r2a = fma(vec4<f32>(a0.z), b0, (*acc).r2a);
    (*acc).r2b = fma(vec4<f32>(a0.z), b1, (*acc).r2b);
    (*acc).r3a = fma(vec4<f32>(a0.w), b0, (*acc).r3a);
    (*acc).r3b = fma(vec4<f32>(a0.w), b1, (*acc).r3b);
    (*acc).r4a = fma(vec4<f32>(a1.x), b0, (*acc).r4a);
    (*acc).r4b = fma(vec4<f32>(a1.x), b1, (*acc).r4b);
    (*acc).r5a = fma(vec4<f32>(a1.y), b0, (*acc).r5a);
    (*acc).r5b = fma(vec4<f32>(a1.y), b1, (*acc).r5b);
    (*acc).r6a = fma(vec4<f32>(a1.z), b0, (*acc).r6a);
    (*acc).r6b = fma(vec4<f32>(a1.z), b1, (*acc).r6b);
    (*acc).r7a = fma(vec4<f32>(a1.w), b0, (*acc).r7a);
    (*acc).r7b = fma(vec4<f32>(a1.w), b1, (*acc).r7b);
  }
}

fn storeTile(acc: ptr<function, Acc>, m0: u32, n0: u32, cBase: u32, lid: vec3u) {
  let r = m0 + lid.y * 4u; // rows r.. and r + TILE/2..
  let ca = n0 + lid.x * 4u;
  let cb = ca + TILE / 2u;
  let h = TILE / 2u;
  storeQuad(r, ca, cBase, (*acc).r0a); storeQuad(r, cb, cBase, (*acc).r0b);
  storeQuad(r + 1u, ca, cBase, (*acc).r1a); storeQuad(r + 1u, cb, cBase, (*acc).r1b);
  storeQuad(r + 2u, ca, cBase, (*acc).r2a); storeQuad(r + 2u, cb, cBase, (*acc).r2b);
  storeQuad(r + 3u, ca, cBase, (*acc).r3a); storeQuad(r + 3u, cb, cBase, (*acc).r3b);
  storeQuad(r + h, ca, cBase, (*acc).r4a); storeQuad(r + h, cb, cBase, (*acc).r4b);
  storeQuad(r + h + 1u, ca, cBase, (*acc).r5a); storeQuad(r + h + 1u, cb, cBase, (*acc).r5b);
  storeQuad(r + h + 2u, ca, cBase, (*acc).r6a); storeQuad(r + h + 2u, cb, cBase, (*acc).r6b);
  storeQuad(r + h + 3u, ca, cBase, (*acc).r7a); storeQuad(r + h + 3u, cb, cBase, (*acc).r7b);
}

// The kernel. The including file defines loadA/loadB(base, tile origin, k0, li, f) -> vec4 (the thread's fragment f
// of the slice at k0, zero outside the operand) and stageA/stageB(o, li, f, v) (store it into the buffer at o).
@compute @workgroup_size(WG, WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let m0 = wid.y * TILE;
  let n0 = wid.x * TILE;
  let aBase = wid.z * p.strideA;
  let bBase = wid.z * p.strideB;
  let cBase = wid.z * p.strideC;
  let kBegin = wid.z * p.kChunk; // a multiple of 64 (the launcher's choice), so slices and quads stay aligned
  let kStop = select(p.K, min(p.K, kBegin + p.kChunk), p.kChunk != 0u); // uniform: the loop may hold barriers
  kEnd = kStop;
  var acc: Acc;
  var ra0 = loadA(aBase, m0, kBegin, li, 0u);
  var rb0 = loadB(bBase, n0, kBegin, li, 0u);
  var ra1 = vec4<f32>(0.0);
  var rb1 = vec4<f32>(0.0);
  if (FRAGS > 1u) {
    ra1 = loadA(aBase, m0, kBegin, li, 1u);
    rb1 = loadB(bBase, n0, kBegin, li, 1u);
  }
  var o = 0u;
  for (var k0 = kBegin; k0 < kStop; k0 += TK) {
    stageA(o, li, 0u, ra0);
    stageB(o, li, 0u, rb0);
    if (FRAGS > 1u) {
      stageA(o, li, 1u, ra1);
      stageB(o, li, 1u, rb1);
    }
    workgroupBarrier();
    if (k0 + TK < kStop) {
      ra0 = loadA(aBase, m0, k0 + TK, li, 0u);
      rb0 = loadB(bBase, n0, k0 + TK, li, 0u);
      if (FRAGS > 1u) {
        ra1 = loadA(aBase, m0, k0 + TK, li, 1u);
        rb1 = loadB(bBase, n0, k0 + TK, li, 1u);
      }
    }
    multiplySlice(&acc, o, lid);
    // The next slice goes to the other buffer: no thread can still be reading it, since every thread passed this
    // slice's barrier only after finishing the multiply that last read it.
    o = SLICE - o;
  }
  storeTile(&acc, m0, n0, cBase, lid);
}
