// LayerNorm over the last dimension C, one workgroup per row:
//   mean = Σx/C, var = Σ(x−mean)²/C (biased), rstd = 1/√(var + eps), y = (x − mean)·rstd·w + b.
// With RMS (RMSNorm, the Llama family's): mean = 0, rstd = 1/√(Σx²/C + eps), y = x·rstd·w (b is not read).
// mean and rstd are saved per row for the backward. y is stored by the output include: as f32, or as halves
// (layernorm_out_f16.wgsl, for half-precision activations).
override RMS: bool = false;

struct Params { rows: u32, C: u32, eps: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
//#include layernorm_out_f32
@group(0) @binding(4) var<storage, read_write> meanOut: array<f32>;
@group(0) @binding(5) var<storage, read_write> rstdOut: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

const WG: u32 = 128u;
//#include workgroup_reduce

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, lane: Lane) {
  let lid = lane.lid;
  let row = wid.x + wid.y * nwg.x;
  // The whole workgroup leaves together, so the barriers below stay in uniform control flow.
  if (row >= p.rows) { return; }
  let base = row * p.C;
  var mean = 0.0;
  if (!RMS) {
    var s = 0.0;
    for (var c = lid; c < p.C; c += WG) { s += x[base + c]; }
    mean = wgSum(s, lane) / f32(p.C);
  }
  var s2 = 0.0;
  for (var c = lid; c < p.C; c += WG) { let d = x[base + c] - mean; s2 += d * d; }
  let rstd = inverseSqrt(wgSum(s2, lane) / f32(p.C) + p.eps);
  storeRow(base, mean, rstd, lid);
  if (lid == 0u) { meanOut[row] = mean; rstdOut[row] = rstd; }
}
