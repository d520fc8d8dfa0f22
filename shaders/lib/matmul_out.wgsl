// The matmul kernels' output binding and the uniform after it, and how outputs are stored: plainly here. The
// launcher swaps this include for an epilogue (matmul_out_residual.wgsl, matmul_out_gelu.wgsl,
// matmul_out_gelu_f16.wgsl), which binds one more buffer before the uniform and stores differently. The kernels call
// storeC4(idx, x, count): x = alpha·acc + bias (+ beta·C; the epilogues run with beta 0 only) for the `count` (1..4)
// consecutive outputs of one row from C[idx] on, idx a multiple of 4 within the row.
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn storeC4(idx: u32, x: vec4<f32>, count: u32) {
  for (var j = 0u; j < count; j++) { C[idx + j] = x[j]; }
}
