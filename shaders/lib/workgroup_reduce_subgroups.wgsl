enable subgroups;
requires subgroup_id;
// The reductions of workgroup_reduce.wgsl, same names and contract, for a device with the `subgroups` feature and
// WGSL's subgroup_id. Each subgroup reduces in registers (no barrier), one lane of each writes its partial, and after
// one barrier every invocation combines the partials in subgroup order: 2 barriers per reduction instead of
// log2(WG) + 2, and the order does not depend on which subgroup finished first. The enable/requires lines above are
// moved to the top of the kernel by expandIncludes (src/gpu/kernel.ts).
struct Lane {
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_id) sg: u32,
  @builtin(num_subgroups) nsg: u32,
}

// One partial per subgroup. WebGPU subgroups hold at least 4 invocations, so WG / 4 would do; WG costs a few hundred
// bytes more and holds even if an implementation split a workgroup finer.
var<workgroup> red: array<f32, WG>;

fn wgSum(v: f32, lane: Lane) -> f32 {
  let s = subgroupAdd(v);
  if (subgroupElect()) { red[lane.sg] = s; }
  workgroupBarrier();
  var r = red[0];
  for (var i = 1u; i < lane.nsg; i++) { r += red[i]; }
  workgroupBarrier();
  return r;
}

fn wgMax(v: f32, lane: Lane) -> f32 {
  let s = subgroupMax(v);
  if (subgroupElect()) { red[lane.sg] = s; }
  workgroupBarrier();
  var r = red[0];
  for (var i = 1u; i < lane.nsg; i++) { r = max(r, red[i]); }
  workgroupBarrier();
  return r;
}
