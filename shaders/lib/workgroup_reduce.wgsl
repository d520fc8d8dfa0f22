// Workgroup-wide reductions (spliced in where a kernel says //#include workgroup_reduce; the kernel defines WG, its
// workgroup size, a power of two, and takes a `lane: Lane` parameter). Every invocation of the workgroup must call
// them: they contain barriers. The result is returned to every invocation; the trailing barrier lets `red` be reused
// right away. A device with subgroups uses workgroup_reduce_subgroups.wgsl in place of this file (same names).
struct Lane { @builtin(local_invocation_index) lid: u32 }

var<workgroup> red: array<f32, WG>;

fn wgSum(v: f32, lane: Lane) -> f32 {
  let lid = lane.lid;
  red[lid] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { red[lid] += red[lid + k]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn wgMax(v: f32, lane: Lane) -> f32 {
  let lid = lane.lid;
  red[lid] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { red[lid] = max(red[lid], red[lid + k]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
