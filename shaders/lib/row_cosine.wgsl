// One row's dot product and squared lengths of the student's and the teacher's hidden states (spliced where a kernel
// says //#include row_cosine; the kernel binds `s` and `t`, has `p.C` and includes workgroup_reduce): (s·t, |s|², |t|²)
// over the row starting at `base`. Every invocation of the workgroup must call it (it reduces across it); each gets
// the result.
fn rowDots(base: u32, lane: Lane) -> vec3f {
  var st = 0.0;
  var ss = 0.0;
  var tt = 0.0;
  for (var c = lane.lid; c < p.C; c += WG) {
    let a = s[base + c];
    let b = t[base + c];
    st += a * b;
    ss += a * a;
    tt += b * b;
  }
  return vec3f(wgSum(st, lane), wgSum(ss, lane), wgSum(tt, lane));
}
