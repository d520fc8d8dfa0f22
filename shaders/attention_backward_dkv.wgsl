// Causal attention backward, key/value side, FlashAttention-2 style: one workgroup per (b, key/value head, block of BK
// keys). For every query head h the key/value head serves (H/KV of them, in order) and every query t ≥ j, recomputing
// p_tj = exp(s_tj − lse_t) and ds_tj = p_tj (dO_t · v_j − Δ_t):
//   dv_j += Σ_h Σ_t p_tj dO_t,   dk_j += scale · Σ_h Σ_t ds_tj q_t
// Each key row has two groups of threads (2·S·BK threads in all, S per group, each holding DS = DH/S head dims):
//   role 0 holds k_j and sums dv_j: s_tj = q_t · k_j → p_tj, which it hands to role 1 through workgroup memory;
//   role 1 holds v_j and sums dk_j: dp_tj = dO_t · v_j, then ds_tj from role 0's p_tj.
// So a thread keeps two DS-vectors in registers (not four), and both roles do the same work per (t, j).
// Query blocks of BQ rows of Q and dO (with lse and Δ) are staged in workgroup memory ([BQ][DH/4] vec4 each, zero
// past D and T) and read as broadcasts. qkv and dqkv are [B,T,(H+2·KV)·D] (columns [q | k | v], query head h at
// h·D…h·D+D−1 of q, key/value head h / (H/KV)); dO is [B,T,H·D]; lse and Δ are [B,H,T]. Each gradient element is
// summed by one thread over h, then t, in order:
// deterministic, no atomics. DH is D padded up to a bucket; the next line is rewritten per bucket by
// src/tensor/ops/attention.ts.
const DH: u32 = 64u; const S: u32 = 1u; const BK: u32 = 64u; const BQ: u32 = 8u;
// Without ACCUMULATE the gradient is written, not added: dqkv holds no earlier gradient and is not read.
override ACCUMULATE: bool = true;

struct Params { B: u32, T: u32, H: u32, KV: u32, D: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> dO: array<f32>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> delta: array<f32>;
@group(0) @binding(4) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

const WG: u32 = 2u * S * BK;
const DH4: u32 = DH / 4u;
const NV: u32 = DH4 / S; // vec4s of the head each thread holds
const QT: u32 = BQ * DH4; // the dO tile's offset in `tl`
// Partial dot products of the S threads of a (role, key), [2][S][BQ][BK] (unused when S = 1).
const XS: u32 = select(1u, 2u * S * BQ * BK, S > 1u);

var<workgroup> tl: array<vec4f, 2u * QT>; // [Q tile | dO tile]
var<workgroup> lt: array<f32, BQ>; // lse of the tile's queries
var<workgroup> dt: array<f32, BQ>; // Δ of the tile's queries
var<workgroup> pt: array<f32, BQ * BK>; // p_tj from role 0 to role 1, [BQ][BK]
var<workgroup> xs: array<f32, XS>;

/** x[base + d … base + d + 3] of qkv or dO (which = 0, 1), zero where d + i ≥ D or !ok. */
fn load4(which: u32, base: u32, d: u32, ok: bool) -> vec4f {
  var x = vec4f(0.0);
  if (ok) {
    for (var i = 0u; i < 4u; i++) {
      if (d + i < p.D) {
        if (which == 0u) { x[i] = qkv[base + d + i]; } else { x[i] = dO[base + d + i]; }
      }
    }
  }
  return x;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let nKB = (p.T + BK - 1u) / BK;
  let BH = p.B * p.KV;
  let w = wid.x + wid.y * nwg.x;
  if (w >= BH * nKB) { return; }
  let kb = w / BH; // the longest (first) key blocks are dispatched first
  let kvh = (w % BH) % p.KV;
  let b = (w % BH) / p.KV;
  let G = p.H / p.KV; // query heads per key/value head
  let C = p.H * p.D; // q columns (and dO's row)
  let CKV = p.KV * p.D;
  let C3 = C + 2u * CKV; // qkv's row
  let role = lid / (S * BK);
  let r = (lid / BK) % S; // which slice of the head dims: threads of one warp share role and slice
  let i = lid % BK;
  let k0 = kb * BK;
  let j = k0 + i;
  let keyOk = j < p.T;
  let v0 = r * NV;
  let kBase = (b * p.T + min(j, p.T - 1u)) * C3 + C + kvh * p.D;
  let dotAt = role * QT; // role 0 dots k with the Q tile, role 1 v with the dO tile
  let updAt = QT - dotAt; // and accumulates the other tile

  var own: array<vec4f, NV>; // role 0: k_j · scale; role 1: v_j
  var acc: array<vec4f, NV>; // role 0: dv_j; role 1: dk_j / scale
  let mul = select(1.0, p.scale, role == 0u);
  for (var v = 0u; v < NV; v++) {
    own[v] = load4(0u, kBase + role * CKV, 4u * (v0 + v), keyOk) * mul;
    acc[v] = vec4f(0.0);
  }
  var x: array<f32, BQ>;
  let nQT = (p.T - k0 + BQ - 1u) / BQ; // query blocks from the block's first key on
  for (var g = 0u; g < G; g++) {
  let h = kvh * G + g;
  for (var qt = 0u; qt < nQT; qt++) {
    let t0 = k0 + qt * BQ;
    workgroupBarrier(); // everyone is done with the previous tiles
    for (var e = lid; e < QT; e += WG) {
      let tq = t0 + e / DH4;
      let tc = (b * p.T + min(tq, p.T - 1u));
      tl[e] = load4(0u, tc * C3 + h * p.D, 4u * (e % DH4), tq < p.T);
      tl[QT + e] = load4(1u, tc * C + h * p.D, 4u * (e % DH4), tq < p.T);
    }
    for (var e = lid; e < BQ; e += WG) {
      let tq = t0 + e;
      let row = (b * p.H + h) * p.T + min(tq, p.T - 1u);
      lt[e] = select(0.0, lse[row], tq < p.T);
      dt[e] = select(0.0, delta[row], tq < p.T);
    }
    workgroupBarrier();
    for (var c = 0u; c < BQ; c++) {
      var a = vec4f(0.0);
      for (var v = 0u; v < NV; v++) { a = fma(own[v], tl[dotAt + c * DH4 + v0 + v], a); }
      x[c] = (a.x + a.y) + (a.z + a.w);
    }
    if (S > 1u) {
      for (var c = 0u; c < BQ; c++) { xs[((role * S + r) * BQ + c) * BK + i] = x[c]; }
      workgroupBarrier();
      for (var c = 0u; c < BQ; c++) {
        var sum = 0.0;
        for (var u = 0u; u < S; u++) { sum += xs[((role * S + u) * BQ + c) * BK + i]; }
        x[c] = sum;
      }
    }
    if (role == 0u) {
      for (var c = 0u; c < BQ; c++) {
        let tq = t0 + c;
        x[c] = select(exp(x[c] - lt[c]), 0.0, tq < j || tq >= p.T);
        if (r == 0u) { pt[c * BK + i] = x[c]; }
      }
    }
    workgroupBarrier();
    if (role == 1u) {
      for (var c = 0u; c < BQ; c++) { x[c] = pt[c * BK + i] * (x[c] - dt[c]); }
    }
    for (var c = 0u; c < BQ; c++) {
      for (var v = 0u; v < NV; v++) { acc[v] = fma(vec4f(x[c]), tl[updAt + c * DH4 + v0 + v], acc[v]); }
    }
  }
  }

  if (keyOk) {
    let outAt = kBase + (1u - role) * CKV; // role 0 → dv (v columns), role 1 → dk (k columns)
    let outMul = select(p.scale, 1.0, role == 0u);
    for (var v = 0u; v < NV; v++) {
      for (var k = 0u; k < 4u; k++) {
        let d = 4u * (v0 + v) + k;
        if (d < p.D) {
          let x = acc[v][k] * outMul;
          if (ACCUMULATE) { dqkv[outAt + d] += x; } else { dqkv[outAt + d] = x; }
        }
      }
    }
  }
}
