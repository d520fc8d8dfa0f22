// Fused AdamW over a flat range of parameters, with global-norm clipping read from the GPU (no host round trip):
//   k = min(1, maxNorm / (‖g‖ + 1e-6)) (k = 1 when maxNorm = 0);  g' = k·g, or k·u·g with loss scaling (`scaled`:
//   u = gradNorm[1] = 1/scale, written by guard_step with the true norm in gradNorm[0])
//   m = β1·m + (1−β1)·g';  v = β2·v + (1−β2)·g'²
//   p = p·(1 − lr·wd) − lr · (m / bc1) / (√(v / bc2) + eps)       (bc = 1 − β^step; PyTorch's order)
// A non-finite norm (set by guard_step) skips the update: nothing changes, moments included.
struct Params { n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, wd: f32, bc1: f32, bc2: f32, maxNorm: f32, scaled: u32 }

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> gradNorm: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

//#include finite

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let norm = gradNorm[0];
  if (!is_finite(norm)) { return; }
  var k = 1.0;
  if (p.maxNorm > 0.0) { k = min(1.0, p.maxNorm / (norm + 1e-6)); }
  if (p.scaled != 0u) { k = k * gradNorm[1]; }
  let g = grad[i] * k;
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  let w = param[i] * (1.0 - p.lr * p.wd);
  param[i] = w - p.lr * (mi / p.bc1) / (sqrt(vi / p.bc2) + p.eps);
}
