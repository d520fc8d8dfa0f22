// One AdamW element update, shared by adamw.wgsl and its twin that also writes the f16 weight copy (adamw_half.wgsl):
// the bindings 0-4 and the Params both declare, the clip factor, and the update of element i's moments and value.
struct Params { n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, wd: f32, bc1: f32, bc2: f32, maxNorm: f32, scaled: u32 }

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> gradNorm: array<f32>;

//#include finite

// The factor the gradients are read with: the clip (1 when off) times 1/scale where loss-scaled.
fn gradFactor() -> f32 {
  var k = 1.0;
  if (p.maxNorm > 0.0) { k = min(1.0, p.maxNorm / (gradNorm[0] + 1e-6)); }
  if (p.scaled != 0u) { k = k * gradNorm[1]; }
  return k;
}

// Updates m[i], v[i] and param[i]; returns the new value.
fn adamwStep(i: u32, k: f32) -> f32 {
  let g = grad[i] * k;
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  let w = param[i] * (1.0 - p.lr * p.wd);
  let next = w - p.lr * (mi / p.bc1) / (sqrt(vi / p.bc2) + p.eps);
  param[i] = next;
  return next;
}
