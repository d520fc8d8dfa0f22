// Position-embedding gradient: dpositions[t, c] += Σ_b dout[b, t, c], one thread per (t, c), batches in order.
struct Params { B: u32, T: u32, C: u32 }

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read_write> dpositions: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.T * p.C) { return; }
  var acc = 0.0;
  for (var b = 0u; b < p.B; b++) { acc += dout[b * p.T * p.C + i]; }
  dpositions[i] += acc;
}
