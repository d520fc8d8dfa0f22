// GELU epilogue of the matmul kernels (see matmul_out.wgsl): C gets the pre-activation x (GELU's backward reads it)
// and G [M, N] gets GELU_tanh(x), computed as the output is stored instead of by a second pass over C.
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<storage, read_write> G: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

//#include gelu

fn storeC4(idx: u32, x: vec4<f32>, count: u32) {
  for (var j = 0u; j < count; j++) {
    C[idx + j] = x[j];
    G[idx + j] = geluTanh(x[j]);
  }
}
