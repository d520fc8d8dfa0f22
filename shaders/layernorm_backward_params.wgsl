// LayerNorm weight and bias gradients, accumulated: dw[c] += Σ_rows dy·x̂, db[c] += Σ_rows dy, with x̂ = (x − mean)·rstd
// over row-major [rows, C] x and dy and per-row mean, rstd. Stage 1 of a deterministic two-stage column reduction
// (no atomics; the same tiling as colsum.wgsl): workgroup w (linear over a folded 2-D grid; surplus workgroups do
// nothing) takes column tile w % tiles (64 columns) and row chunk w / tiles (256 rows); thread (tx, ty) of its 64×4
// threads sums column tile·64 + tx over the chunk's rows ty, ty + 4, … in order; the 4 row lanes are then added in
// order through workgroup memory.
//   PARTIAL: dw[chunk·C + c], db[chunk·C + c] = chunk sums (two [chunks, C] scratches, summed by colsum)
//   else:    dw[c] +=, db[c] += chunk sums (a single chunk, rows ≤ 256)
override PARTIAL: bool = false;

struct Params { rows: u32, C: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> meanIn: array<f32>;
@group(0) @binding(3) var<storage, read> rstdIn: array<f32>;
@group(0) @binding(4) var<storage, read_write> dw: array<f32>;
@group(0) @binding(5) var<storage, read_write> db: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

const TILE: u32 = 64u;
const LANES: u32 = 4u;
const CHUNK: u32 = 256u;
var<workgroup> lanesW: array<f32, 256>; // [LANES][TILE]
var<workgroup> lanesB: array<f32, 256>;

@compute @workgroup_size(64, 4)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tiles = (p.C + TILE - 1u) / TILE;
  let chunks = (p.rows + CHUNK - 1u) / CHUNK;
  let w = wid.x + wid.y * nwg.x;
  if (w >= tiles * chunks) { return; }
  let chunk = w / tiles;
  let c = (w % tiles) * TILE + lid.x;
  let end = min(p.rows, (chunk + 1u) * CHUNK);
  var sw = 0.0;
  var sb = 0.0;
  if (c < p.C) {
    // Two rows per iteration so their loads are in flight together; the adds stay in row order.
    var r = chunk * CHUNK + lid.y;
    for (; r + LANES < end; r += 2u * LANES) {
      let g0 = dy[r * p.C + c];
      let x0 = x[r * p.C + c];
      let g1 = dy[(r + LANES) * p.C + c];
      let x1 = x[(r + LANES) * p.C + c];
      sw += g0 * (x0 - meanIn[r]) * rstdIn[r];
      sb += g0;
      sw += g1 * (x1 - meanIn[r + LANES]) * rstdIn[r + LANES];
      sb += g1;
    }
    if (r < end) {
      let g = dy[r * p.C + c];
      sw += g * (x[r * p.C + c] - meanIn[r]) * rstdIn[r];
      sb += g;
    }
  }
  let i = lid.y * TILE + lid.x;
  lanesW[i] = sw;
  lanesB[i] = sb;
  workgroupBarrier();
  if (lid.y == 0u && c < p.C) {
    let tw = ((lanesW[lid.x] + lanesW[TILE + lid.x]) + lanesW[2u * TILE + lid.x]) + lanesW[3u * TILE + lid.x];
    let tb = ((lanesB[lid.x] + lanesB[TILE + lid.x]) + lanesB[2u * TILE + lid.x]) + lanesB[3u * TILE + lid.x];
    if (PARTIAL) {
      dw[chunk * p.C + c] = tw;
      db[chunk * p.C + c] = tb;
    } else {
      dw[c] += tw;
      db[c] += tb;
    }
  }
}
