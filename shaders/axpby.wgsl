// y = alpha·y + beta·x. The accumulate step of every backward (alpha = 1), scaling (alpha = 0: y is not read,
// so an uninitialised y is fine), and Muon's weight update.
struct Params { n: u32, alpha: f32, beta: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  var v = p.beta * x[i];
  if (p.alpha != 0.0) { v += p.alpha * y[i]; }
  y[i] = v;
}
