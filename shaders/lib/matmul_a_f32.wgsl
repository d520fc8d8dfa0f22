// Operand A of the scalar-load matmul kernels (matmul.wgsl, matmul_simple.wgsl), stored as f32. Its half-storage
// twin, matmul_a_f16.wgsl, has the same readA; the launcher swaps the include for an f16 A.
@group(0) @binding(0) var<storage, read> A: array<f32>;

fn readA(i: u32) -> f32 {
  return A[i];
}
