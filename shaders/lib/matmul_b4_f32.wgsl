// Operand B of the vec4-load matmul kernel (matmul_v4.wgsl), stored as f32: readB4(i) is elements 4i … 4i + 3. Its
// half-storage twin is matmul_b4_f16.wgsl.
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;

fn readB4(i: u32) -> vec4<f32> {
  return B[i];
}
