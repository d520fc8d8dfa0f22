// Fused AdamW over a flat range of parameters, with global-norm clipping read from the GPU (no host round trip):
//   k = min(1, maxNorm / (‖g‖ + 1e-6)) (k = 1 when maxNorm = 0);  g' = k·g, or k·u·g with loss scaling (`scaled`:
//   u = gradNorm[1] = 1/scale, written by guard_step with the true norm in gradNorm[0])
//   m = β1·m + (1−β1)·g';  v = β2·v + (1−β2)·g'²
//   p = p·(1 − lr·wd) − lr · (m / bc1) / (√(v / bc2) + eps)       (bc = 1 − β^step; PyTorch's order)
// A non-finite norm (set by guard_step) skips the update: nothing changes, moments included. The element update is
// shaders/lib/adamw_step.wgsl (shared with adamw_half.wgsl, which also writes the f16 weight copy).
//#include adamw_step
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  if (!is_finite(gradNorm[0])) { return; }
  adamwStep(i, gradFactor());
}
