// Per-row scores of logits [N,V] against targets, one workgroup per row (evaluation only):
//   logp = z[target] − log Σ_v exp(z_v)   (row_lse, as crossentropy_forward: −logp is its row loss, bit for bit)
//   top1 = 1 when the target is the first index of the row's maximum (PyTorch's argmax), else 0
// Rows with an ignored target (< 0 or ≥ V) score 0 and 0.
struct Params { N: u32, V: u32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read_write> logp: array<f32>;
@group(0) @binding(3) var<storage, read_write> top1: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = 256u;
//#include workgroup_reduce
//#include row_lse

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, lane: Lane) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.V;
  let tgt = targets[row];
  let scored = tgt >= 0 && u32(tgt) < p.V;
  let t = select(0u, u32(tgt), scored);
  let zt = logits[base + t];
  let l = rowMaxLse(base, lane).y;
  // 1 where some other index beats the target: a larger value, or an equal one before it.
  var beaten = 0.0;
  for (var v = lane.lid; v < p.V; v += WG) {
    let z = logits[base + v];
    if (z > zt || (z == zt && v < t)) { beaten = 1.0; }
  }
  beaten = wgMax(beaten, lane);
  if (lane.lid == 0u) {
    if (scored) {
      logp[row] = zt - l;
      top1[row] = 1.0 - beaten;
    } else {
      logp[row] = 0.0;
      top1[row] = 0.0;
    }
  }
}
