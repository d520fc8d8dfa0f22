// The GELU epilogue (matmul_out_gelu.wgsl) with G stored as halves, two per u32 (an f16 tensor: half-precision
// activations), rounded as to_half.wgsl rounds: the same halves as GELU in f32 then to_half, and no f32 activation
// ever stored. The launcher requires an even N and no batch, so idx is even and count (N − a multiple of 4, or 4)
// too: every word is written whole by one thread.
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<storage, read_write> G: array<u32>;
@group(0) @binding(5) var<uniform> p: Params;

//#include gelu
//#include half_bits

fn storeC4(idx: u32, x: vec4<f32>, count: u32) {
  for (var j = 0u; j < count; j++) { C[idx + j] = x[j]; }
  for (var j = 0u; j < count; j += 2u) {
    G[(idx + j) / 2u] = halfBits(geluTanh(x[j])) | (halfBits(geluTanh(x[j + 1u])) << 16u);
  }
}
