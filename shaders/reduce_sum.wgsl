// One pass of a deterministic sum: workgroup w adds x[w·chunk … w·chunk + chunk) (squared when SQUARE) and
// writes out[outOffset + w]. Passes repeat until one value is left; the last pass takes its square root when SQRT
// (the global L2 norm for gradient clipping).
override SQUARE: bool = false;
override SQRT: bool = false;

struct Params { n: u32, chunk: u32, outOffset: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const WG: u32 = 256u;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x + wid.y * nwg.x;
  let start = w * p.chunk;
  let end = min(start + p.chunk, p.n);
  var s = 0.0;
  for (var i = start + lid; i < end; i += WG) {
    let v = x[i];
    if (SQUARE) { s = fma(v, v, s); } else { s += v; }
  }
  red[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { red[lid] += red[lid + k]; }
    workgroupBarrier();
  }
  if (lid == 0u && start < p.n) {
    if (SQRT) { out[p.outOffset + w] = sqrt(red[0]); } else { out[p.outOffset + w] = red[0]; }
  }
}
