// kd-hidden's cosine term (DistilBERT-style), row by row over a student's hidden states s [N, C] and the teacher's
// t [N, C] at a matched layer, one workgroup per row:
//   row loss = scale·(1 − cos),  cos = s·t / (max(|s|, ε)·max(|t|, ε)),  ε = 1e-8 (PyTorch's cosine_similarity)
// Rows with an ignored target (< 0 or ≥ V) score 0; crossentropy_mean then averages the scored rows.
struct Params { N: u32, C: u32, V: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> s: array<f32>;
@group(0) @binding(1) var<storage, read> t: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = 256u;
const EPS: f32 = 1e-8;
//#include workgroup_reduce
//#include row_cosine

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, lane: Lane) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.C;
  let dots = rowDots(base, lane);
  let st = dots.x;
  let ss = dots.y;
  let tt = dots.z;
  if (lane.lid == 0u) {
    let tgt = targets[row];
    let scored = tgt >= 0 && u32(tgt) < p.V;
    let cosine = st / (max(sqrt(ss), EPS) * max(sqrt(tt), EPS));
    losses[row] = select(0.0, p.scale * (1.0 - cosine), scored);
  }
}
