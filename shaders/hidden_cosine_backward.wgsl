// Gradient of hidden_cosine_forward's mean through the layer it reads: the block output s feeds both the next block
// (gradient dy) and the cosine term, so, for a scored row with k = seed·scale/count,
//   dx = dy − k·( t/(|s|'·|t|') − cos·s/|s|² )   (|·|' = max(|·|, ε); the second term only where |s| > ε)
// added to dx with ACCUMULATE, else written over it. One workgroup per row.
override ACCUMULATE: bool = false;

struct Params { N: u32, C: u32, V: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> s: array<f32>;
@group(0) @binding(1) var<storage, read> t: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read> count: array<f32>;
@group(0) @binding(4) var<storage, read> seed: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

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
  let tgt = targets[row];
  let scored = tgt >= 0 && u32(tgt) < p.V && count[0] > 0.0;
  let k = select(0.0, seed[0] * p.scale / max(count[0], 1.0), scored);
  let ns = sqrt(ss);
  let inv = 1.0 / (max(ns, EPS) * max(sqrt(tt), EPS));
  let cosine = st * inv;
  let along = select(0.0, cosine / ss, ns > EPS);
  for (var c = lane.lid; c < p.C; c += WG) {
    let d = dy[base + c] - k * (t[base + c] * inv - along * s[base + c]);
    if (ACCUMULATE) { dx[base + c] += d; } else { dx[base + c] = d; }
  }
}
