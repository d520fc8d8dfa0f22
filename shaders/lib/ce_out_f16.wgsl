// crossentropy_seeded.wgsl's dlogits as halves, two per u32 (an f16 tensor [N, stride]; the tensor-core head of
// f16-mixed training): gradAt's f32 values rounded on the bits as to_half.wgsl rounds (past 65504 → ±infinity,
// so an overflowing loss scale trips the step guard). Each thread writes whole words of the row, the columns from V
// to the stride as zeros (the padded head's products read them); the stride must be even (the launcher checks).
@group(0) @binding(6) var<storage, read_write> dlogits: array<u32>;

//#include half_bits

fn storeZeros(base: u32, lid: u32) {
  for (var i = lid; i < p.stride / 2u; i += WG) { dlogits[base / 2u + i] = 0u; }
}

fn storeGrads(base: u32, l: f32, g: f32, t: u32, lid: u32) {
  for (var i = lid; i < p.stride / 2u; i += WG) {
    let lo = halfBits(gradAt(base, l, g, t, 2u * i));
    let hi = halfBits(gradAt(base, l, g, t, 2u * i + 1u));
    dlogits[base / 2u + i] = lo | (hi << 16u);
  }
}
