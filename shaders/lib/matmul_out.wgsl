// The matmul kernels' output binding and the uniform after it, and how an output value is stored: plainly here.
// The launcher swaps this include for an epilogue (matmul_out_residual.wgsl, matmul_out_gelu.wgsl), which binds one
// more buffer before the uniform and stores differently; the kernels call storeC(idx, x) with x = alpha·acc + bias
// (+ beta·C, the epilogues run with beta 0 only).
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn storeC(idx: u32, x: f32) {
  C[idx] = x;
}
