// Causal multi-head attention forward, one workgroup per (batch b, head h, query t):
//   s_j = (q_t · k_j) / √D for j ≤ t;  o_t = Σ_j softmax(s)_j · v_j;  lse[b,h,t] = log Σ_j exp(s_j)
// qkv is [B,T,3C] (c_attn's output: columns [q | k | v], head h at h·D…h·D+D−1 of each); out is [B,T,C].
// Only one row of scores lives in workgroup memory (T_MAX floats); nothing T×T is stored.
override T_MAX: u32 = 1024u;

struct Params { B: u32, T: u32, H: u32, D: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const WG: u32 = 64u;
var<workgroup> s: array<f32, T_MAX>;
var<workgroup> q: array<f32, 256>;
//#include workgroup_reduce

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x; // = (b·H + h)·T + t
  if (row >= p.B * p.H * p.T) { return; }
  let t = row % p.T;
  let bh = row / p.T;
  let h = bh % p.H;
  let b = bh / p.H;
  let C = p.H * p.D;
  let C3 = 3u * C;
  let qBase = (b * p.T + t) * C3 + h * p.D;
  for (var d = lid; d < p.D; d += WG) { q[d] = qkv[qBase + d]; }
  workgroupBarrier();
  var m = -3.4e38;
  for (var j = lid; j <= t; j += WG) {
    let kBase = (b * p.T + j) * C3 + C + h * p.D;
    var dot = 0.0;
    for (var d = 0u; d < p.D; d++) { dot = fma(q[d], qkv[kBase + d], dot); }
    let sj = dot * p.scale;
    s[j] = sj;
    m = max(m, sj);
  }
  m = wgMax(m, lid);
  var l = 0.0;
  for (var j = lid; j <= t; j += WG) { let e = exp(s[j] - m); s[j] = e; l += e; }
  l = wgSum(l, lid);
  let inv = 1.0 / l;
  let oBase = (b * p.T + t) * C + h * p.D;
  for (var d = lid; d < p.D; d += WG) {
    var acc = 0.0;
    for (var j = 0u; j <= t; j++) { acc = fma(s[j], qkv[(b * p.T + j) * C3 + 2u * C + h * p.D + d], acc); }
    out[oBase + d] = acc * inv;
  }
  if (lid == 0u) { lse[row] = m + log(l); }
}
