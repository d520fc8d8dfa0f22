// Muon's parameter update from the orthogonalised momentum O: p ← p·(1 − lr·wd) − lr·scale·O, where scale is the
// shape factor max(1, out/in)^0.5. Skipped when the global gradient norm is not finite (see guard_step).
struct Params { n: u32, decay: f32, step: f32 }

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> ortho: array<f32>;
@group(0) @binding(2) var<storage, read> gradNorm: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

//#include finite

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  if (!is_finite(gradNorm[0])) { return; }
  param[i] = param[i] * p.decay - p.step * ortho[i];
}
