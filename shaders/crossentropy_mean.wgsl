// Mean of the per-row losses over rows whose target is not ignored; also stores that count for the backward.
// One workgroup; each thread sums a strided subset, then a fixed-order tree: deterministic.
struct Params { N: u32, V: u32 }

@group(0) @binding(0) var<storage, read> losses: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> count: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = 256u;
var<workgroup> rs: array<f32, WG>;
var<workgroup> rc: array<f32, WG>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  var c = 0.0;
  for (var i = lid; i < p.N; i += WG) {
    let tgt = targets[i];
    if (tgt >= 0 && u32(tgt) < p.V) { s += losses[i]; c += 1.0; }
  }
  rs[lid] = s;
  rc[lid] = c;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { rs[lid] += rs[lid + k]; rc[lid] += rc[lid + k]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    count[0] = rc[0];
    loss[0] = select(0.0, rs[0] / rc[0], rc[0] > 0.0);
  }
}
