// Logit distillation on a chunk of rows, forward and gradient at once (the training step's seeded head), one
// workgroup per row of student logits z and teacher logits t [N,V]:
//   loss_row = α·(lse(z) − z[y]) + (1−α)·τ²·Σ_v p_v·(log p_v − log q_v),  p = softmax(t/τ), q = softmax(z/τ)
//   dz_v     = (g / count)·(α·(softmax(z)_v − [v = y]) + (1−α)·τ·(q_v − p_v))
// The cross-entropy part is computed as crossentropy_forward and crossentropy_backward compute it (row_lse, then the
// same expression), so α = 1 gives their values bit for bit. Ignored rows (target < 0 or ≥ V): loss 0, dz 0.
struct Params { N: u32, V: u32, alpha: f32, tau: f32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> teacher: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read> count: array<f32>;
@group(0) @binding(4) var<storage, read> gLoss: array<f32>;
@group(0) @binding(5) var<storage, read_write> losses: array<f32>;
@group(0) @binding(6) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

const WG: u32 = 256u;
//#include workgroup_reduce
//#include row_lse

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, lane: Lane) {
  let lid = lane.lid;
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.V;
  let tgt = targets[row];
  if (tgt < 0 || u32(tgt) >= p.V || count[0] == 0.0) {
    for (var v = lid; v < p.V; v += WG) { dlogits[base + v] = 0.0; }
    if (lid == 0u) { losses[row] = 0.0; }
    return;
  }
  // The student's max and log-sum-exp as crossentropy_forward makes them (row_lse); the softened sums beside.
  let ml = rowMaxLse(base, lane);
  let m = ml.x;
  let l = ml.y;
  var mt = -3.4e38;
  for (var v = lid; v < p.V; v += WG) { mt = max(mt, teacher[base + v]); }
  mt = wgMax(mt, lane);
  let inv = 1.0 / p.tau;
  var sq = 0.0;
  var sp = 0.0;
  for (var v = lid; v < p.V; v += WG) {
    sq += exp((logits[base + v] - m) * inv);
    sp += exp((teacher[base + v] - mt) * inv);
  }
  sq = wgSum(sq, lane);
  sp = wgSum(sp, lane);
  let lsq = log(sq);
  let lsp = log(sp);
  let g = gLoss[0] / count[0];
  var kl = 0.0;
  for (var v = lid; v < p.V; v += WG) {
    let z = logits[base + v];
    let lq = (z - m) * inv - lsq;
    let lp = (teacher[base + v] - mt) * inv - lsp;
    let pv = exp(lp);
    kl += pv * (lp - lq);
    var d = exp(z - l);
    if (v == u32(tgt)) { d -= 1.0; }
    dlogits[base + v] = g * (p.alpha * d + (1.0 - p.alpha) * p.tau * (exp(lq) - pv));
  }
  kl = wgSum(kl, lane);
  if (lid == 0u) {
    losses[row] = p.alpha * (l - logits[base + u32(tgt)]) + (1.0 - p.alpha) * p.tau * p.tau * kl;
  }
}
