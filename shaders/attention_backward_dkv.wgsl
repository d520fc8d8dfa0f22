// Causal attention backward, key/value side, one workgroup per (b, h, key j). For every query t ≥ j, recomputing
// p_tj = exp(s_tj − lse_t) and ds_tj = p_tj (dO_t · v_j − Δ_t):
//   dv_j += Σ_t p_tj dO_t,   dk_j += scale · Σ_t ds_tj q_t
// Each gradient row is summed by one workgroup in a fixed order: deterministic, no atomics.
override T_MAX: u32 = 1024u;

struct Params { B: u32, T: u32, H: u32, D: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> dO: array<f32>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> delta: array<f32>;
@group(0) @binding(4) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

const WG: u32 = 64u;
var<workgroup> pr: array<f32, T_MAX>;
var<workgroup> ds: array<f32, T_MAX>;
var<workgroup> k: array<f32, 256>;
var<workgroup> v: array<f32, 256>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.B * p.H * p.T) { return; }
  let j = row % p.T;
  let bh = row / p.T;
  let h = bh % p.H;
  let b = bh / p.H;
  let C = p.H * p.D;
  let C3 = 3u * C;
  let kBase = (b * p.T + j) * C3 + C + h * p.D;
  let vBase = kBase + C;
  for (var d = lid; d < p.D; d += WG) { k[d] = qkv[kBase + d]; v[d] = qkv[vBase + d]; }
  workgroupBarrier();
  for (var t = j + lid; t < p.T; t += WG) {
    let qBase = (b * p.T + t) * C3 + h * p.D;
    let oBase = (b * p.T + t) * C + h * p.D;
    var qk = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < p.D; d++) {
      qk = fma(qkv[qBase + d], k[d], qk);
      dp = fma(dO[oBase + d], v[d], dp);
    }
    let r = (b * p.H + h) * p.T + t;
    let pt = exp(qk * p.scale - lse[r]);
    pr[t] = pt;
    ds[t] = pt * (dp - delta[r]);
  }
  workgroupBarrier();
  for (var d = lid; d < p.D; d += WG) {
    var dk = 0.0;
    var dv = 0.0;
    for (var t = j; t < p.T; t++) {
      dv = fma(pr[t], dO[(b * p.T + t) * C + h * p.D + d], dv);
      dk = fma(ds[t], qkv[(b * p.T + t) * C3 + h * p.D + d], dk);
    }
    dqkv[kBase + d] += dk * p.scale;
    dqkv[vBase + d] += dv;
  }
}
