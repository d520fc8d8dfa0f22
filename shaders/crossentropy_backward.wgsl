// Gradient of the mean cross-entropy w.r.t. the logits, one workgroup per row:
//   dz_v += (g / count) · (softmax(z)_v − [v = target]);  ignored rows get nothing (nothing is added).
// Without ACCUMULATE, dz is written instead (not read), ignored rows as zeros, so every element is set.
override ACCUMULATE: bool = true;

struct Params { N: u32, V: u32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> count: array<f32>;
@group(0) @binding(4) var<storage, read> gLoss: array<f32>;
@group(0) @binding(5) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let tgt = targets[row];
  let base = row * p.V;
  if (tgt < 0 || u32(tgt) >= p.V || count[0] == 0.0) {
    if (!ACCUMULATE) {
      for (var v = lid; v < p.V; v += WG) { dlogits[base + v] = 0.0; }
    }
    return;
  }
  let g = gLoss[0] / count[0];
  let l = lse[row];
  for (var v = lid; v < p.V; v += WG) {
    var d = exp(logits[base + v] - l);
    if (v == u32(tgt)) { d -= 1.0; }
    if (ACCUMULATE) { dlogits[base + v] += g * d; } else { dlogits[base + v] = g * d; }
  }
}
