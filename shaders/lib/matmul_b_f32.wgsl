// Operand B of the scalar-load matmul kernels (matmul.wgsl, matmul_simple.wgsl), stored as f32. Its half-storage
// twin, matmul_b_f16.wgsl, has the same readB; the launcher swaps the include for an f16 B.
@group(0) @binding(1) var<storage, read> B: array<f32>;

fn readB(i: u32) -> f32 {
  return B[i];
}
