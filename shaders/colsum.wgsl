// Column sums, accumulated: out[n] += Σ_r x[r, n] over R rows of width N (the bias gradient of a matmul).
// One thread per column, rows in order: deterministic, and consecutive threads read consecutive addresses.
struct Params { R: u32, N: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * 256u;
  if (n >= p.N) { return; }
  var s = 0.0;
  for (var r = 0u; r < p.R; r++) { s += x[r * p.N + n]; }
  out[n] += s;
}
