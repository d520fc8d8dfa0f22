// Causal multi-head attention forward, FlashAttention-2 style: one workgroup per (batch b, head h, block of BR
// queries), one thread per query row (or S threads per row, each holding DS = DH/S of the head dims, for DH > 64):
//   s_j = (q_t · k_j) / √D for j ≤ t;  o_t = Σ_j softmax(s)_j · v_j;  lse[b,h,t] = log Σ_j exp(s_j)
// qkv is [B,T,(H+2·KV)·D]: columns [q (H heads) | k (KV heads) | v (KV heads)], head h at h·D…h·D+D−1 of its part;
// query head h reads key/value head h / (H/KV) (grouped-query attention; KV = H is GPT-2's [q | k | v] of c_attn).
// out is [B,T,H·D].
// Key blocks of BC rows of K and V are staged in workgroup memory ([BC][DH/4] vec4 each, zero past D and T) and read
// as broadcasts; q and the output accumulator stay in registers, with the running max m and sum l (online softmax).
// With S > 1, the S partial dot products of a score are summed through workgroup memory once per key block.
// Nothing T×T is stored. DH is the head size D padded up to a bucket; the next line is rewritten per bucket by
// src/tensor/ops/attention.ts (function-scope arrays need const sizes, which override constants are not).
const DH: u32 = 64u; const S: u32 = 1u; const BR: u32 = 64u; const BC: u32 = 8u;

struct Params { B: u32, T: u32, H: u32, KV: u32, D: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const WG: u32 = BR * S;
const DH4: u32 = DH / 4u;
const NV: u32 = DH4 / S; // vec4s of the head each thread holds
const NEG: f32 = -3.0e38; // a finite −∞: exp(NEG − m) is 0 without inf − inf
// Partial scores of the S threads of a row, [S][BC][BR] (unused when S = 1).
const XS: u32 = select(1u, S * BC * BR, S > 1u);

var<workgroup> kt: array<vec4f, BC * DH4>;
var<workgroup> vt: array<vec4f, BC * DH4>;
var<workgroup> xs: array<f32, XS>;

/** qkv[base + d … base + d + 3], zero where d + i ≥ D or !ok. */
fn load4(base: u32, d: u32, ok: bool) -> vec4f {
  var x = vec4f(0.0);
  if (ok) {
    if (d + 3u < p.D) {
      x = vec4f(qkv[base + d], qkv[base + d + 1u], qkv[base + d + 2u], qkv[base + d + 3u]);
    } else {
      for (var i = 0u; i < 4u; i++) { if (d + i < p.D) { x[i] = qkv[base + d + i]; } }
    }
  }
  return x;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let nQB = (p.T + BR - 1u) / BR;
  let BH = p.B * p.H;
  let w = wid.x + wid.y * nwg.x;
  if (w >= BH * nQB) { return; }
  let qb = nQB - 1u - w / BH; // the longest (last) query blocks are dispatched first
  let h = (w % BH) % p.H;
  let b = (w % BH) / p.H;
  let C = p.H * p.D; // q columns (and out's row)
  let CKV = p.KV * p.D; // k columns, v columns
  let C3 = C + 2u * CKV; // qkv's row
  let kvh = h / (p.H / p.KV);
  let r = lid / BR; // which slice of the head dims: threads of one warp share it, so tile reads are broadcasts
  let i = lid % BR;
  let q0 = qb * BR;
  let t = q0 + i;
  let rowOk = t < p.T;
  let v0 = r * NV; // first vec4 of this thread's slice
  let qBase = (b * p.T + min(t, p.T - 1u)) * C3 + h * p.D;

  var q: array<vec4f, NV>;
  var o: array<vec4f, NV>;
  for (var v = 0u; v < NV; v++) {
    q[v] = load4(qBase, 4u * (v0 + v), rowOk) * p.scale;
    o[v] = vec4f(0.0);
  }
  var s: array<f32, BC>;
  var m = NEG;
  var l = 0.0;
  let nKB = (min(p.T, q0 + BR) + BC - 1u) / BC; // key blocks up to the block's last query
  for (var kb = 0u; kb < nKB; kb++) {
    let k0 = kb * BC;
    workgroupBarrier(); // everyone is done with the previous tiles
    for (var e = lid; e < BC * DH4; e += WG) {
      let key = k0 + e / DH4;
      let base = (b * p.T + min(key, p.T - 1u)) * C3 + C + kvh * p.D;
      kt[e] = load4(base, 4u * (e % DH4), key < p.T);
      vt[e] = load4(base + CKV, 4u * (e % DH4), key < p.T);
    }
    workgroupBarrier();
    for (var c = 0u; c < BC; c++) {
      var acc = vec4f(0.0);
      for (var v = 0u; v < NV; v++) { acc = fma(q[v], kt[c * DH4 + v0 + v], acc); }
      s[c] = (acc.x + acc.y) + (acc.z + acc.w);
    }
    if (S > 1u) {
      for (var c = 0u; c < BC; c++) { xs[(r * BC + c) * BR + i] = s[c]; }
      workgroupBarrier();
      for (var c = 0u; c < BC; c++) {
        var sum = 0.0;
        for (var u = 0u; u < S; u++) { sum += xs[(u * BC + c) * BR + i]; }
        s[c] = sum;
      }
    }
    var mNew = m;
    for (var c = 0u; c < BC; c++) {
      s[c] = select(s[c], NEG, k0 + c > t);
      mNew = max(mNew, s[c]);
    }
    let alpha = exp(m - mNew);
    l *= alpha;
    for (var v = 0u; v < NV; v++) { o[v] *= alpha; }
    for (var c = 0u; c < BC; c++) {
      let pc = exp(s[c] - mNew);
      l += pc;
      for (var v = 0u; v < NV; v++) { o[v] = fma(vec4f(pc), vt[c * DH4 + v0 + v], o[v]); }
    }
    m = mNew;
  }

  if (rowOk) {
    let inv = 1.0 / l;
    let oBase = (b * p.T + t) * C + h * p.D;
    for (var v = 0u; v < NV; v++) {
      for (var k = 0u; k < 4u; k++) {
        let d = 4u * (v0 + v) + k;
        if (d < p.D) { out[oBase + d] = o[v][k] * inv; }
      }
    }
    if (r == 0u) { lse[(b * p.H + h) * p.T + t] = m + log(l); }
  }
}
