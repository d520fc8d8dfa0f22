// y = GELU_tanh(x) elementwise (the formula: shaders/lib/gelu.wgsl). A linear layer followed by GELU runs fused
// instead (the matmul's GELU epilogue); this kernel serves GELU on its own.
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

//#include gelu

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  y[i] = geluTanh(x[i]);
}
