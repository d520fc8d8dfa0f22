// Causal attention backward, query side, one workgroup per (b, h, t). With p_j = exp(s_j − lse_t) recomputed,
//   Δ_t = dO_t · O_t,  dp_j = dO_t · v_j,  ds_j = p_j (dp_j − Δ_t),  dq_t += scale · Σ_j ds_j k_j
// Δ is also written out for the key/value kernel. dqkv is [B,T,3C]; only its q columns are touched here.
override T_MAX: u32 = 1024u;

struct Params { B: u32, T: u32, H: u32, D: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> o: array<f32>;
@group(0) @binding(2) var<storage, read> dO: array<f32>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> delta: array<f32>;
@group(0) @binding(5) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

const WG: u32 = 64u;
var<workgroup> ds: array<f32, T_MAX>;
var<workgroup> q: array<f32, 256>;
var<workgroup> g: array<f32, 256>;
//#include workgroup_reduce

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.B * p.H * p.T) { return; }
  let t = row % p.T;
  let bh = row / p.T;
  let h = bh % p.H;
  let b = bh / p.H;
  let C = p.H * p.D;
  let C3 = 3u * C;
  let qBase = (b * p.T + t) * C3 + h * p.D;
  let oBase = (b * p.T + t) * C + h * p.D;
  var dd = 0.0;
  for (var d = lid; d < p.D; d += WG) {
    q[d] = qkv[qBase + d];
    g[d] = dO[oBase + d];
    dd += g[d] * o[oBase + d];
  }
  let dlt = wgSum(dd, lid); // the reduction's barriers also publish q and g
  let L = lse[row];
  for (var j = lid; j <= t; j += WG) {
    let kBase = (b * p.T + j) * C3 + C + h * p.D;
    let vBase = kBase + C;
    var qk = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < p.D; d++) {
      qk = fma(q[d], qkv[kBase + d], qk);
      dp = fma(g[d], qkv[vBase + d], dp);
    }
    ds[j] = exp(qk * p.scale - L) * (dp - dlt);
  }
  workgroupBarrier();
  for (var d = lid; d < p.D; d += WG) {
    var acc = 0.0;
    for (var j = 0u; j <= t; j++) { acc = fma(ds[j], qkv[(b * p.T + j) * C3 + C + h * p.D + d], acc); }
    dqkv[qBase + d] += acc * p.scale;
  }
  if (lid == 0u) { delta[row] = dlt; }
}
