// Column sums of a row-major [R, N] matrix x (the bias gradient of a matmul), one stage of a deterministic two-stage
// reduction (no atomics: every sum is taken in a fixed order, whatever the scheduling).
// Workgroup w (linear over a folded 2-D grid; surplus workgroups do nothing) takes column tile w % tiles (64 columns,
// so each row segment is 256 contiguous bytes) and row chunk w / tiles (256 rows). Thread (tx, ty) of its 64×4 threads
// sums column tile·64 + tx over the chunk's rows ty, ty + 4, … in order; the 4 row lanes are then added in order
// through workgroup memory.
//   PARTIAL: out[chunk·N + n] = chunk sum (a [chunks, N] scratch that a second call, with R = chunks, sums)
//   else:    out[n] += chunk sum (a single chunk, R ≤ 256), or out[n] = chunk sum without ACCUMULATE (out not read)
override PARTIAL: bool = false;
override ACCUMULATE: bool = true;

struct Params { R: u32, N: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const TILE: u32 = 64u;
const LANES: u32 = 4u;
const CHUNK: u32 = 256u;
var<workgroup> lanes: array<f32, 256>; // [LANES][TILE]

@compute @workgroup_size(64, 4)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tiles = (p.N + TILE - 1u) / TILE;
  let chunks = (p.R + CHUNK - 1u) / CHUNK;
  let w = wid.x + wid.y * nwg.x;
  if (w >= tiles * chunks) { return; }
  let chunk = w / tiles;
  let n = (w % tiles) * TILE + lid.x;
  let end = min(p.R, (chunk + 1u) * CHUNK);
  var s = 0.0;
  if (n < p.N) {
    // Four rows per iteration so their loads are in flight together; the adds stay in row order.
    var r = chunk * CHUNK + lid.y;
    for (; r + 3u * LANES < end; r += 4u * LANES) {
      let a = x[r * p.N + n];
      let b = x[(r + LANES) * p.N + n];
      let c = x[(r + 2u * LANES) * p.N + n];
      let d = x[(r + 3u * LANES) * p.N + n];
      s += a; s += b; s += c; s += d;
    }
    for (; r < end; r += LANES) { s += x[r * p.N + n]; }
  }
  lanes[lid.y * TILE + lid.x] = s;
  workgroupBarrier();
  if (lid.y == 0u && n < p.N) {
    let t = ((lanes[lid.x] + lanes[TILE + lid.x]) + lanes[2u * TILE + lid.x]) + lanes[3u * TILE + lid.x];
    if (PARTIAL || !ACCUMULATE) { out[chunk * p.N + n] = t; } else { out[n] += t; }
  }
}
