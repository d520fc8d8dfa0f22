// Rotary position embedding of q and k, packed with v into the attention kernels' layout (the Llama family):
//   q [B,T,H·D], k [B,T,KV·D], v [B,T,KV·D] → qkv [B,T,(H+2·KV)·D], columns [q heads | k heads | v heads].
// Hugging Face's "rotate half" form: for position t and i < D/2, with c = cos(t·θᵢ) and s = sin(t·θᵢ),
//   x'[i] = x[i]·c − x[i + D/2]·s,   x'[i + D/2] = x[i + D/2]·c + x[i]·s
// (v is copied). cos and sin come from a table [T][D/2][2] the host computes (src/tensor/ops/rope.ts): WGSL's cos
// and sin are only accurate near [−π, π], and t·θ reaches thousands of radians. One thread per (b, t, head, i).
struct Params { B: u32, T: u32, H: u32, KV: u32, D: u32 }

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> cs: array<f32>;
@group(0) @binding(4) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * 256u;
  let half = p.D / 2u;
  let heads = p.H + 2u * p.KV;
  if (e >= p.B * p.T * heads * half) { return; }
  let i = e % half;
  let slot = (e / half) % heads;
  let row = e / (half * heads); // b·T + t
  let t = row % p.T;
  let o = row * heads * p.D + slot * p.D + i;
  if (slot >= p.H + p.KV) {
    let at = row * p.KV * p.D + (slot - p.H - p.KV) * p.D + i;
    qkv[o] = v[at];
    qkv[o + half] = v[at + half];
    return;
  }
  var a: f32;
  var b: f32;
  if (slot < p.H) {
    let at = row * p.H * p.D + slot * p.D + i;
    a = q[at];
    b = q[at + half];
  } else {
    let at = row * p.KV * p.D + (slot - p.H) * p.D + i;
    a = k[at];
    b = k[at + half];
  }
  let c = cs[2u * (t * half + i)];
  let s = cs[2u * (t * half + i) + 1u];
  qkv[o] = a * c - b * s;
  qkv[o + half] = b * c + a * s;
}
