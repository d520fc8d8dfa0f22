// Operand A of the vec4-load matmul kernel (matmul_v4.wgsl), stored as f32: readA4(i) is elements 4i … 4i + 3. Its
// half-storage twin is matmul_a4_f16.wgsl.
@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;

fn readA4(i: u32) -> vec4<f32> {
  return A[i];
}
