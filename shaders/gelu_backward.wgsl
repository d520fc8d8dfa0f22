// dx += dy · GELU'(x), or dx = … without ACCUMULATE (dx not read: its first gradient). With s = σ(2u) (so
// GELU = x·s):  GELU'(x) = s + x · 2s(1 − s) · u',  u' = √(2/π)(1 + 3·0.044715·x²). Same tail-safe form as the forward.
override ACCUMULATE: bool = true;

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let v = x[i];
  let u2 = clamp(2.0 * SQRT_2_OVER_PI * (v + 0.044715 * v * v * v), -80.0, 80.0);
  let s = 1.0 / (1.0 + exp(-u2));
  let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * v * v);
  let d = dy[i] * (s + v * 2.0 * s * (1.0 - s) * du);
  if (ACCUMULATE) { dx[i] += d; } else { dx[i] = d; }
}
