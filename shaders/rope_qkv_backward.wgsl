// Backward of rope_qkv_forward.wgsl: the rotation by −tθ of each q and k pair, v's columns passed through.
//   dx[i] = dx'[i]·c + dx'[i + D/2]·s,   dx[i + D/2] = dx'[i + D/2]·c − dx'[i]·s
// dq, dk, dv are each added to (ACC_Q, ACC_K, ACC_V) or written over (their first gradient: not read).
override ACC_Q: bool = true;
override ACC_K: bool = true;
override ACC_V: bool = true;

struct Params { B: u32, T: u32, H: u32, KV: u32, D: u32 }

@group(0) @binding(0) var<storage, read> dqkv: array<f32>;
@group(0) @binding(1) var<storage, read> cs: array<f32>;
@group(0) @binding(2) var<storage, read_write> dq: array<f32>;
@group(0) @binding(3) var<storage, read_write> dk: array<f32>;
@group(0) @binding(4) var<storage, read_write> dv: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * 256u;
  let half = p.D / 2u;
  let heads = p.H + 2u * p.KV;
  if (e >= p.B * p.T * heads * half) { return; }
  let i = e % half;
  let slot = (e / half) % heads;
  let row = e / (half * heads);
  let t = row % p.T;
  let o = row * heads * p.D + slot * p.D + i;
  let a = dqkv[o];
  let b = dqkv[o + half];
  if (slot >= p.H + p.KV) {
    let at = row * p.KV * p.D + (slot - p.H - p.KV) * p.D + i;
    if (ACC_V) { dv[at] += a; dv[at + half] += b; } else { dv[at] = a; dv[at + half] = b; }
    return;
  }
  let c = cs[2u * (t * half + i)];
  let s = cs[2u * (t * half + i) + 1u];
  let x = a * c + b * s;
  let y = b * c - a * s;
  if (slot < p.H) {
    let at = row * p.H * p.D + slot * p.D + i;
    if (ACC_Q) { dq[at] += x; dq[at + half] += y; } else { dq[at] = x; dq[at + half] = y; }
  } else {
    let at = row * p.KV * p.D + (slot - p.H) * p.D + i;
    if (ACC_K) { dk[at] += x; dk[at + half] += y; } else { dk[at] = x; dk[at + half] = y; }
  }
}
