// The step guard: one thread checks the step's mean loss and global gradient norm. A non-finite value (or any earlier
// one: the flag is sticky) sets the flag and turns the norm into NaN, and every optimizer kernel skips its update
// when the norm it reads is not finite. So a bad step never reaches the parameters, without a host round trip.
@group(0) @binding(0) var<storage, read> loss: array<f32>;
@group(0) @binding(1) var<storage, read_write> norm: array<f32>;
@group(0) @binding(2) var<storage, read_write> flag: array<f32>;

//#include finite

@compute @workgroup_size(1)
fn main() {
  if (!is_finite(loss[0]) || !is_finite(norm[0]) || flag[0] != 0.0) {
    flag[0] = 1.0;
    // A constant NaN is a shader-creation error in WGSL, so the bits pass through a runtime value.
    norm[0] = bitcast<f32>(0x7fc00000u | (bitcast<u32>(flag[0]) & 0u));
  }
}
