// Post-softmax causal attention averaged over the batch, for the attention-rank analysis (DESIGN.md "Attention rank"):
//   out[h,i,j] = (1/B) Σ_b exp(s_bhij − lse[b,h,i]) for j ≤ i, 0 for j > i;  s_bhij = (q_bhi · k_bhj) / √D
// qkv is [B,T,(H+2·KV)·D] (columns [q | k | v], query head h reading key head h / (H/KV)); lse [B,H,T] is what
// attention_forward saved: log Σ_j exp(s_j) of the same scaled scores, so exp(s − lse) is its softmax (to rounding:
// the tiled forward sums q·k in vec4 partials with q pre-scaled, this kernel in one fma chain).
// One thread per output element (H·T·T of them), the grid folded into 2-D past 65535 workgroups.
struct Params { B: u32, T: u32, H: u32, KV: u32, D: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> lse: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * 256u; // = (h·T + i)·T + j
  if (e >= p.H * p.T * p.T) { return; }
  let j = e % p.T;
  let hi = e / p.T;
  let i = hi % p.T;
  let h = hi / p.T;
  if (j > i) {
    out[e] = 0.0;
    return;
  }
  let C = p.H * p.D;
  let C3 = C + 2u * p.KV * p.D;
  let kvh = h / (p.H / p.KV);
  var acc = 0.0;
  for (var b = 0u; b < p.B; b++) {
    let qBase = (b * p.T + i) * C3 + h * p.D;
    let kBase = (b * p.T + j) * C3 + C + kvh * p.D;
    var dot = 0.0;
    for (var d = 0u; d < p.D; d++) { dot = fma(qkv[qBase + d], qkv[kBase + d], dot); }
    acc += exp(dot * p.scale - lse[(b * p.H + h) * p.T + i]);
  }
  out[e] = acc / f32(p.B);
}
