// is_finite(x): false for ±Inf and NaN. Tested on the bits, because WGSL lets compilers assume floats are finite
// (x != x may fold to false). The optimizer kernels use it to skip a step the guard (guard_step) marked bad.
fn is_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}
