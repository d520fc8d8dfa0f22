// Causal attention backward, query side, FlashAttention-2 style: one workgroup per (b, h, block of BR queries), one
// thread per query row (or S threads per row, each holding DS = DH/S of the head dims). With p_j = exp(s_j − lse_t)
// recomputed from the forward's log-sum-exp,
//   Δ_t = dO_t · O_t,  dp_j = dO_t · v_j,  ds_j = p_j (dp_j − Δ_t),  dq_t += scale · Σ_{j ≤ t} ds_j k_j
// Δ [B,H,T] is also written out for the key/value kernel. qkv and dqkv are [B,T,(H+2·KV)·D] (columns [q | k | v],
// query head h at h·D…h·D+D−1 of q, reading key/value head h / (H/KV)); O and dO are [B,T,H·D]. Only dqkv's q columns are touched here, each by one thread, summed
// over j in order: deterministic. Key blocks of BC rows of K and V are staged in workgroup memory ([BC][DH/4] vec4
// each, zero past D and T); q, dO and the dq accumulator stay in registers (with S > 1, the partial dot products of
// s_j and dp_j are summed through workgroup memory once per key block). DH is D padded up to a bucket; the next
// line is rewritten per bucket by src/tensor/ops/attention.ts.
const DH: u32 = 64u; const S: u32 = 2u; const BR: u32 = 64u; const BC: u32 = 8u;
// Without ACCUMULATE the gradient is written, not added: dqkv holds no earlier gradient and is not read.
override ACCUMULATE: bool = true;

struct Params { B: u32, T: u32, H: u32, KV: u32, D: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> o: array<f32>;
@group(0) @binding(2) var<storage, read> dO: array<f32>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> delta: array<f32>;
@group(0) @binding(5) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

const WG: u32 = BR * S;
const DH4: u32 = DH / 4u;
const NV: u32 = DH4 / S; // vec4s of the head each thread holds
// Partial dot products of the S threads of a row, [2][S][BC][BR] (unused when S = 1).
const XS: u32 = select(1u, 2u * S * BC * BR, S > 1u);

var<workgroup> kt: array<vec4f, BC * DH4>;
var<workgroup> vt: array<vec4f, BC * DH4>;
var<workgroup> xs: array<f32, XS>;

/** x[base + d … base + d + 3] of qkv, O or dO (which = 0, 1, 2), zero where d + i ≥ D or !ok. */
fn load4(which: u32, base: u32, d: u32, ok: bool) -> vec4f {
  var x = vec4f(0.0);
  if (ok) {
    for (var i = 0u; i < 4u; i++) {
      if (d + i < p.D) {
        if (which == 0u) { x[i] = qkv[base + d + i]; } else if (which == 1u) { x[i] = o[base + d + i]; } else { x[i] = dO[base + d + i]; }
      }
    }
  }
  return x;
}

/** Σ_u xs[u-th partial of (row i, column c) in half `half`]: the S partial dot products in a fixed order. */
fn gather(half: u32, c: u32, i: u32) -> f32 {
  var sum = 0.0;
  for (var u = 0u; u < S; u++) { sum += xs[((half * S + u) * BC + c) * BR + i]; }
  return sum;
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
  let C = p.H * p.D; // q columns (and O's row)
  let CKV = p.KV * p.D;
  let C3 = C + 2u * CKV; // qkv's row
  let kvh = h / (p.H / p.KV);
  let r = lid / BR; // which slice of the head dims: threads of one warp share it, so tile reads are broadcasts
  let i = lid % BR;
  let q0 = qb * BR;
  let t = q0 + i;
  let rowOk = t < p.T;
  let v0 = r * NV;
  let tc = min(t, p.T - 1u);
  let qBase = (b * p.T + tc) * C3 + h * p.D;
  let oBase = (b * p.T + tc) * C + h * p.D;
  let row = (b * p.H + h) * p.T + tc;

  var q: array<vec4f, NV>;
  var g: array<vec4f, NV>;
  var dq: array<vec4f, NV>;
  var dd = vec4f(0.0);
  for (var v = 0u; v < NV; v++) {
    q[v] = load4(0u, qBase, 4u * (v0 + v), rowOk) * p.scale;
    g[v] = load4(2u, oBase, 4u * (v0 + v), rowOk);
    dd = fma(g[v], load4(1u, oBase, 4u * (v0 + v), rowOk), dd);
    dq[v] = vec4f(0.0);
  }
  var dlt = (dd.x + dd.y) + (dd.z + dd.w);
  if (S > 1u) {
    xs[r * BC * BR + i] = dlt;
    workgroupBarrier();
    dlt = gather(0u, 0u, i);
  }
  if (rowOk && r == 0u) { delta[row] = dlt; }
  let L = select(0.0, lse[row], rowOk);

  let nKB = (min(p.T, q0 + BR) + BC - 1u) / BC; // key blocks up to the block's last query
  for (var kb = 0u; kb < nKB; kb++) {
    let k0 = kb * BC;
    workgroupBarrier(); // everyone is done with the previous tiles (and with Δ's partials in xs)
    for (var e = lid; e < BC * DH4; e += WG) {
      let key = k0 + e / DH4;
      let base = (b * p.T + min(key, p.T - 1u)) * C3 + C + kvh * p.D;
      kt[e] = load4(0u, base, 4u * (e % DH4), key < p.T);
      vt[e] = load4(0u, base + CKV, 4u * (e % DH4), key < p.T);
    }
    workgroupBarrier();
    if (S == 1u) {
      // One thread has the whole row: stream the keys, nothing per key is kept.
      for (var c = 0u; c < BC; c++) {
        var a = vec4f(0.0);
        var z = vec4f(0.0);
        for (var v = 0u; v < NV; v++) {
          a = fma(q[v], kt[c * DH4 + v], a);
          z = fma(g[v], vt[c * DH4 + v], z);
        }
        let sj = (a.x + a.y) + (a.z + a.w);
        let dp = (z.x + z.y) + (z.z + z.w);
        let ds = select(exp(sj - L) * (dp - dlt), 0.0, k0 + c > t);
        for (var v = 0u; v < NV; v++) { dq[v] = fma(vec4f(ds), kt[c * DH4 + v], dq[v]); }
      }
    } else {
      for (var c = 0u; c < BC; c++) {
        var a = vec4f(0.0);
        var z = vec4f(0.0);
        for (var v = 0u; v < NV; v++) {
          a = fma(q[v], kt[c * DH4 + v0 + v], a);
          z = fma(g[v], vt[c * DH4 + v0 + v], z);
        }
        xs[(r * BC + c) * BR + i] = (a.x + a.y) + (a.z + a.w);
        xs[((S + r) * BC + c) * BR + i] = (z.x + z.y) + (z.z + z.w);
      }
      workgroupBarrier();
      for (var c = 0u; c < BC; c++) {
        let ds = select(exp(gather(0u, c, i) - L) * (gather(1u, c, i) - dlt), 0.0, k0 + c > t);
        for (var v = 0u; v < NV; v++) { dq[v] = fma(vec4f(ds), kt[c * DH4 + v0 + v], dq[v]); }
      }
    }
  }

  if (rowOk) {
    for (var v = 0u; v < NV; v++) {
      for (var k = 0u; k < 4u; k++) {
        let d = 4u * (v0 + v) + k;
        if (d < p.D) {
          let x = dq[v][k] * p.scale;
          if (ACCUMULATE) { dqkv[qBase + d] += x; } else { dqkv[qBase + d] = x; }
        }
      }
    }
  }
}
