// Token + position embedding: out[b,t,c] = table[tokens[b,t], c] + positions[t, c]. Token ids are validated on the host.
// Without POSITIONS (a model with no position table) positions is not read.
override POSITIONS: bool = true;

struct Params { BT: u32, T: u32, C: u32 }

@group(0) @binding(0) var<storage, read> tokens: array<i32>;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> positions: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.BT * p.C) { return; }
  let bt = i / p.C;
  let c = i % p.C;
  let t = bt % p.T;
  let x = table[u32(tokens[bt]) * p.C + c];
  if (POSITIONS) { out[i] = x + positions[t * p.C + c]; } else { out[i] = x; }
}
