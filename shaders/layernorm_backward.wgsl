// LayerNorm backward in one dispatch: the input gradient of every row and the weight and bias gradients' column sums,
// each workgroup doing one or the other (they read the same inputs and write disjoint outputs). Workgroup w (linear
// over a folded 2-D grid) with w < p.dxRows takes row w's input gradient; the next workgroups take the parameter
// sums (PARAMS); surplus workgroups do nothing. With x̂ = (x − mean)·rstd and g = dy·w:
//   dx += rstd · (g − mean(g) − x̂ · mean(g·x̂))      (dx = … without ACCUMULATE: dx is not read)
//   dw[c] += Σ_rows dy·x̂,  db[c] += Σ_rows dy
// With RMS (RMSNorm: the saved mean is 0, x̂ = x·rstd) the mean(g) term is absent: dx += rstd · (g − x̂ · mean(g·x̂)).
// The parameter sums are stage 1 of a deterministic column reduction (no atomics): workgroup u of them takes column
// tile u % tiles (64 columns) and row chunk u / tiles (256 rows); thread (tx, ty) of its 64 × 2 threads sums column
// tile·64 + tx over the chunk's rows ty, ty + 2, … in order, and the 2 row lanes are then added through workgroup
// memory. PARAMS:
//   0: none (p.dxRows workgroups only)
//   1: dw[chunk·C + c], db[chunk·C + c] = chunk sums (two [chunks, C] scratches, summed by colsum)
//   2: dw[c] +=, db[c] += chunk sums (a single chunk, rows ≤ 256)
override ACCUMULATE: bool = true;
override RMS: bool = false;
override PARAMS: u32 = 0u;

struct Params { rows: u32, C: u32, dxRows: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> meanIn: array<f32>;
@group(0) @binding(4) var<storage, read> rstdIn: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> dw: array<f32>;
@group(0) @binding(7) var<storage, read_write> db: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

const WG: u32 = 128u;
//#include workgroup_reduce

const TILE: u32 = 64u;
const LANES: u32 = 2u;
const CHUNK: u32 = 256u;
var<workgroup> lanesW: array<f32, 128>; // [LANES][TILE]
var<workgroup> lanesB: array<f32, 128>;

fn inputGradient(row: u32, lane: Lane) {
  let lid = lane.lid;
  let base = row * p.C;
  let mean = meanIn[row];
  let rstd = rstdIn[row];
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    let g = dy[base + c] * w[c];
    sg += g;
    sgx += g * (x[base + c] - mean) * rstd;
  }
  let mg = select(wgSum(sg, lane) / f32(p.C), 0.0, RMS);
  let mgx = wgSum(sgx, lane) / f32(p.C);
  for (var c = lid; c < p.C; c += WG) {
    let g = dy[base + c] * w[c];
    let xh = (x[base + c] - mean) * rstd;
    let d = rstd * (g - mg - xh * mgx);
    if (ACCUMULATE) { dx[base + c] += d; } else { dx[base + c] = d; }
  }
}

fn parameterSums(u: u32, lid: u32) {
  let tiles = (p.C + TILE - 1u) / TILE;
  let chunk = u / tiles;
  let tx = lid % TILE;
  let ty = lid / TILE;
  let c = (u % tiles) * TILE + tx;
  let end = min(p.rows, (chunk + 1u) * CHUNK);
  var sw = 0.0;
  var sb = 0.0;
  if (c < p.C) {
    // Two rows per iteration so their loads are in flight together; the adds stay in row order.
    var r = chunk * CHUNK + ty;
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
  lanesW[lid] = sw;
  lanesB[lid] = sb;
  workgroupBarrier();
  if (ty == 0u && c < p.C) {
    let tw = lanesW[tx] + lanesW[TILE + tx];
    let tb = lanesB[tx] + lanesB[TILE + tx];
    if (PARAMS == 1u) {
      dw[chunk * p.C + c] = tw;
      db[chunk * p.C + c] = tb;
    } else {
      dw[c] += tw;
      db[c] += tb;
    }
  }
}

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, lane: Lane) {
  // The branch is uniform across a workgroup, so the barriers inside either function are reached by all of it.
  let g = wid.x + wid.y * nwg.x;
  if (g < p.dxRows) {
    inputGradient(g, lane);
    return;
  }
  if (PARAMS == 0u) { return; }
  let tiles = (p.C + TILE - 1u) / TILE;
  let chunks = (p.rows + CHUNK - 1u) / CHUNK;
  let u = g - p.dxRows;
  if (u >= tiles * chunks) { return; }
  parameterSums(u, lane.lid);
}
