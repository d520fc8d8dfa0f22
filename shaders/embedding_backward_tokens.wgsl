// Token-embedding gradient without atomics: the host groups the batch's positions by token id (CSR), and one
// workgroup per distinct id sums its positions' output gradients in order: dtable[id, c] += Σ_pos dout[pos, c].
struct Params { U: u32, C: u32 }

@group(0) @binding(0) var<storage, read> ids: array<i32>;
@group(0) @binding(1) var<storage, read> starts: array<i32>;
@group(0) @binding(2) var<storage, read> positions: array<i32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read_write> dtable: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let u = wid.x + wid.y * nwg.x;
  if (u >= p.U) { return; }
  let id = u32(ids[u]);
  let s0 = u32(starts[u]);
  let s1 = u32(starts[u + 1u]);
  for (var c = lid; c < p.C; c += 64u) {
    var acc = 0.0;
    for (var s = s0; s < s1; s++) { acc += dout[u32(positions[s]) * p.C + c]; }
    dtable[id * p.C + c] += acc;
  }
}
