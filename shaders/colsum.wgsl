// Column sums of row-major matrices (the bias gradient of a matmul, split-K parts, LayerNorm parameter partials), one
// stage of a deterministic two-stage reduction (no atomics: every sum is taken in a fixed order, whatever the
// scheduling). One dispatch runs up to two independent jobs: job 0 sums x [R, N] into out, job 1 x1 [R1, N1] into
// out1 (R1 = 0: none); the workgroups of job 0 come first. Both jobs take their sums in the same order, so a job gives
// the same bits alone or paired.
// Workgroup w of a job (linear over a folded 2-D grid; surplus workgroups do nothing) takes column tile w % tiles (64
// columns, so each row segment is 256 contiguous bytes) and row chunk w / tiles (256 rows). Thread (tx, ty) of its
// 64×4 threads sums column tile·64 + tx over the chunk's rows ty, ty + 4, … in order; the 4 row lanes are then added
// in order through workgroup memory. A job's MODE:
//   0 (partial): out[chunk·N + n] = chunk sum (a [chunks, N] scratch that a second stage, with R = chunks, sums)
//   1 (write):   out[n] = the sum of a single chunk (R ≤ 256; out not read)
//   2 (add):     out[n] += the sum of a single chunk
override MODE0: u32 = 2u;
override MODE1: u32 = 2u;

struct Params { R: u32, N: u32, R1: u32, N1: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x1: array<f32>;
@group(0) @binding(3) var<storage, read_write> out1: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const TILE: u32 = 64u;
const LANES: u32 = 4u;
const CHUNK: u32 = 256u;
var<workgroup> lanes: array<f32, 256>; // [LANES][TILE]

// The selected job's input (the job index is uniform across a workgroup).
fn load(job: u32, i: u32) -> f32 {
  if (job == 0u) { return x[i]; }
  return x1[i];
}

@compute @workgroup_size(64, 4)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tiles0 = (p.N + TILE - 1u) / TILE;
  let work0 = tiles0 * ((p.R + CHUNK - 1u) / CHUNK);
  let tiles1 = (p.N1 + TILE - 1u) / TILE;
  let work1 = tiles1 * ((p.R1 + CHUNK - 1u) / CHUNK);
  var w = wid.x + wid.y * nwg.x;
  if (w >= work0 + work1) { return; }
  var job = 0u;
  var R = p.R;
  var N = p.N;
  var tiles = tiles0;
  var mode = MODE0;
  if (w >= work0) {
    job = 1u;
    w -= work0;
    R = p.R1;
    N = p.N1;
    tiles = tiles1;
    mode = MODE1;
  }
  let chunk = w / tiles;
  let n = (w % tiles) * TILE + lid.x;
  let end = min(R, (chunk + 1u) * CHUNK);
  var s = 0.0;
  if (n < N) {
    // Four rows per iteration so their loads are in flight together; the adds stay in row order.
    var r = chunk * CHUNK + lid.y;
    for (; r + 3u * LANES < end; r += 4u * LANES) {
      let a = load(job, r * N + n);
      let b = load(job, (r + LANES) * N + n);
      let c = load(job, (r + 2u * LANES) * N + n);
      let d = load(job, (r + 3u * LANES) * N + n);
      s += a; s += b; s += c; s += d;
    }
    for (; r < end; r += LANES) { s += load(job, r * N + n); }
  }
  lanes[lid.y * TILE + lid.x] = s;
  workgroupBarrier();
  if (lid.y == 0u && n < N) {
    let t = ((lanes[lid.x] + lanes[TILE + lid.x]) + lanes[2u * TILE + lid.x]) + lanes[3u * TILE + lid.x];
    let i = select(n, chunk * N + n, mode == 0u);
    if (job == 0u) {
      if (mode == 2u) { out[i] += t; } else { out[i] = t; }
    } else {
      if (mode == 2u) { out1[i] += t; } else { out1[i] = t; }
    }
  }
}
