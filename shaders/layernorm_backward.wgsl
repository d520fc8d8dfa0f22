// LayerNorm input gradient, one workgroup per row. With x̂ = (x − mean)·rstd and g = dy·w:
//   dx += rstd · (g − mean(g) − x̂ · mean(g·x̂))      (dx = … without ACCUMULATE: dx is not read)
// With RMS (RMSNorm: the saved mean is 0, x̂ = x·rstd) the mean(g) term is absent: dx += rstd · (g − x̂ · mean(g·x̂)).
override ACCUMULATE: bool = true;
override RMS: bool = false;

struct Params { rows: u32, C: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> meanIn: array<f32>;
@group(0) @binding(4) var<storage, read> rstdIn: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

const WG: u32 = 128u;
//#include workgroup_reduce

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, lane: Lane) {
  let lid = lane.lid;
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
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
