// LayerNorm's output as halves, two per u32 (an f16 tensor; half-precision activations), rounded to nearest even on
// the bits as to_half.wgsl rounds: the same halves as LayerNorm in f32 then to_half, without the f32 pass. Each thread
// writes whole words, so C must be even (every row then starts on a word); the launcher checks.
@group(0) @binding(3) var<storage, read_write> y: array<u32>;

//#include half_bits

fn normed(i: u32, c: u32, mean: f32, rstd: f32) -> f32 {
  if (RMS) { return x[i] * rstd * w[c]; }
  return (x[i] - mean) * rstd * w[c] + b[c];
}

fn storeRow(base: u32, mean: f32, rstd: f32, lid: u32) {
  for (var c = 2u * lid; c < p.C; c += 2u * WG) {
    let lo = halfBits(normed(base + c, c, mean, rstd));
    let hi = halfBits(normed(base + c + 1u, c + 1u, mean, rstd));
    y[(base + c) / 2u] = lo | (hi << 16u);
  }
}
