// SwiGLU backward, y = g·σ(g)·u with s = σ(g):
//   dg = dy · u · s · (1 + g·(1 − s)),   du = dy · g · s
// Each output is added to (ACC_G, ACC_U) or written over (its first gradient: not read).
override ACC_G: bool = true;
override ACC_U: bool = true;

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dg: array<f32>;
@group(0) @binding(4) var<storage, read_write> du: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let v = g[i];
  let s = 1.0 / (1.0 + exp(-v));
  let d = dy[i];
  let a = d * u[i] * s * (1.0 + v * (1.0 - s));
  let b = d * v * s;
  if (ACC_G) { dg[i] += a; } else { dg[i] = a; }
  if (ACC_U) { du[i] += b; } else { du[i] = b; }
}
