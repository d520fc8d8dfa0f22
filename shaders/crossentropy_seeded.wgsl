// The training step's cross-entropy on a chunk of the head's logits [N,V], forward and gradient in one dispatch, one
// workgroup per row (the seeded head: the backward seed g is known in the forward pass):
//   lse = log Σ_v exp(z_v),  loss_row = lse − z[target],  dz_v = (g / count)·(softmax(z)_v − [v = target])
// computed as crossentropy_forward and crossentropy_backward (not accumulating) compute them, so the values are
// theirs bit for bit; one dispatch instead of two. Ignored rows (target < 0 or ≥ V): loss 0, dz 0; lse is stored for
// every row (a backward with another seed recomputes from it).
// Rows are `stride` floats apart in logits and in dlogits (stride ≥ V; the columns past V are neither read nor
// scored). dlogits are written by the output include: ce_out_f32 (f32, columns below V) or ce_out_f16 (halves for the
// tensor-core head of f16-mixed training, every word of the row, the columns past V as zeros).
struct Params { N: u32, V: u32, stride: u32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read> count: array<f32>;
@group(0) @binding(3) var<storage, read> gLoss: array<f32>;
@group(0) @binding(4) var<storage, read_write> losses: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

const WG: u32 = 256u;
//#include workgroup_reduce
//#include row_lse
//#include ce_out_f32

// dz_v of the row at base for v (0 past V): g·(softmax(z)_v − [v = t]), softmax(z)_v = exp(z_v − lse), as
// crossentropy_backward computes it. The output includes store it.
fn gradAt(base: u32, l: f32, g: f32, t: u32, v: u32) -> f32 {
  if (v >= p.V) { return 0.0; }
  var d = exp(logits[base + v] - l);
  if (v == t) { d -= 1.0; }
  return g * d;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, lane: Lane) {
  let lid = lane.lid;
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.stride;
  let l = rowMaxLse(base, lane).y;
  let tgt = targets[row];
  let scored = tgt >= 0 && u32(tgt) < p.V;
  let t = select(0u, u32(tgt), scored); // an index inside the row whatever the target
  if (lid == 0u) {
    lse[row] = l;
    losses[row] = select(0.0, l - logits[base + t], scored);
  }
  if (!scored || count[0] == 0.0) {
    storeZeros(base, lid);
    return;
  }
  storeGrads(base, l, gLoss[0] / count[0], t, lid);
}
