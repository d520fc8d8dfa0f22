// LayerNorm weight and bias gradients, accumulated: dw[c] += Σ_rows dy·x̂, db[c] += Σ_rows dy.
// One thread per column, rows in order (deterministic; consecutive threads read consecutive addresses).
struct Params { rows: u32, C: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> meanIn: array<f32>;
@group(0) @binding(3) var<storage, read> rstdIn: array<f32>;
@group(0) @binding(4) var<storage, read_write> dw: array<f32>;
@group(0) @binding(5) var<storage, read_write> db: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let c = gid.x + gid.y * nwg.x * 256u;
  if (c >= p.C) { return; }
  var sw = 0.0;
  var sb = 0.0;
  for (var r = 0u; r < p.rows; r++) {
    let g = dy[r * p.C + c];
    sw += g * (x[r * p.C + c] - meanIn[r]) * rstdIn[r];
    sb += g;
  }
  dw[c] += sw;
  db[c] += sb;
}
