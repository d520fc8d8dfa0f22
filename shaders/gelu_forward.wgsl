// GELU, tanh form: y = 0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³).
// Evaluated as y = x·σ(2u), an identity (1 + tanh u = 2σ(2u)) that keeps full relative precision in the negative
// tail, where 1 + tanh(u) cancels. 2u is clamped to ±80 so exp() stays finite (σ is exactly 0 or 1 there in f32).
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let v = x[i];
  let u2 = clamp(2.0 * SQRT_2_OVER_PI * (v + 0.044715 * v * v * v), -80.0, 80.0);
  y[i] = v / (1.0 + exp(-u2));
}
