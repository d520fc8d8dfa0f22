// SwiGLU's gate (the Llama family's MLP): y = silu(g)·u = g·σ(g)·u elementwise, g and u the gate_proj and up_proj
// outputs [.., I]. σ(g) = 1/(1 + exp(−g)) is exact in both tails in f32 (exp(−g) → ∞ gives σ = 0, g·σ = −0).
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let v = g[i];
  y[i] = v / (1.0 + exp(-v)) * u[i];
}
