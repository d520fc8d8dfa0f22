// y = xᵀ for x [R, C] (row-major), through a 16×16 workgroup tile so reads and writes are both contiguous.
// With ACCUMULATE, y += xᵀ (the transpose's own backward rule).
override ACCUMULATE: bool = false;

struct Params { R: u32, C: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> tile: array<f32, 272>; // 16 × 17: the pad column avoids bank conflicts

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wid.y * 16u + lid.y;
  let c = wid.x * 16u + lid.x;
  if (r < p.R && c < p.C) { tile[lid.y * 17u + lid.x] = x[r * p.C + c]; }
  workgroupBarrier();
  let outR = wid.x * 16u + lid.y; // a row of y is a column of x
  let outC = wid.y * 16u + lid.x;
  if (outR < p.C && outC < p.R) {
    let v = tile[lid.x * 17u + lid.y];
    if (ACCUMULATE) { y[outR * p.R + outC] += v; } else { y[outR * p.R + outC] = v; }
  }
}
