// One row's maximum and log-sum-exp over `logits` in a single read of the row (spliced where a kernel says
// //#include row_lse; the kernel binds `logits`, has `p.V` and includes workgroup_reduce). Each thread keeps a running
// maximum m and Σ exp(z − m) over its strided elements, rescaling the sum when its maximum grows (online softmax,
// Milakov & Gimelshein 2018); the threads' pairs are then combined at the row's maximum M:
// lse = M + log Σ_threads s·exp(m − M). Every invocation of the workgroup must call it (it reduces across it); each
// gets (M, lse).
fn rowMaxLse(base: u32, lane: Lane) -> vec2f {
  var m = -3.4e38;
  var s = 0.0;
  for (var v = lane.lid; v < p.V; v += WG) {
    let z = logits[base + v];
    if (z > m) {
      s = s * exp(m - z) + 1.0;
      m = z;
    } else {
      s += exp(z - m);
    }
  }
  let top = wgMax(m, lane);
  return vec2f(top, top + log(wgSum(s * exp(m - top), lane)));
}
