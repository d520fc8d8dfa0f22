// Fused softmax + cross-entropy, one workgroup per row of logits [N,V]:
//   lse = log Σ_v exp(z_v),  loss_row = lse − z[target]  (0 for ignored rows: target < 0 or ≥ V)
// The softmax itself is never stored; lse is saved for the backward.
struct Params { N: u32, V: u32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read_write> losses: array<f32>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = 256u;
//#include workgroup_reduce
//#include row_lse

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, lane: Lane) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.V;
  let l = rowMaxLse(base, lane).y;
  if (lane.lid == 0u) {
    lse[row] = l;
    let tgt = targets[row];
    if (tgt >= 0 && u32(tgt) < p.V) { losses[row] = l - logits[base + u32(tgt)]; } else { losses[row] = 0.0; }
  }
}
