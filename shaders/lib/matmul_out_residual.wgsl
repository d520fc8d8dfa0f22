// Residual epilogue of the matmul kernels (see matmul_out.wgsl): C = x + R, the transformer's residual connection
// (R [M, N] like C, e.g. a block's input) added as the output is stored, so the product itself never goes to memory.
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<storage, read> R: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

fn storeC4(idx: u32, x: vec4<f32>, count: u32) {
  for (var j = 0u; j < count; j++) { C[idx + j] = x[j] + R[idx + j]; }
}
