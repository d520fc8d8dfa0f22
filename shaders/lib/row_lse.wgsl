// One row's log-sum-exp over `logits` (spliced where a kernel says //#include row_lse; the kernel binds `logits`, has
// `p.V` and includes workgroup_reduce): the row's maximum m, then m + log Σ_v exp(z_v − m). Every invocation of the
// workgroup must call both (they reduce across it); each gets the result.
fn rowMax(base: u32, lane: Lane) -> f32 {
  var m = -3.4e38;
  for (var v = lane.lid; v < p.V; v += WG) { m = max(m, logits[base + v]); }
  return wgMax(m, lane);
}

fn rowLse(base: u32, m: f32, lane: Lane) -> f32 {
  var s = 0.0;
  for (var v = lane.lid; v < p.V; v += WG) { s += exp(logits[base + v] - m); }
  return m + log(wgSum(s, lane));
}
