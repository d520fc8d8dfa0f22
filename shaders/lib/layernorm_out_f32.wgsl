// LayerNorm's output as f32 (layernorm_forward.wgsl; the half-storage twin is layernorm_out_f16.wgsl).
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

fn normed(i: u32, c: u32, mean: f32, rstd: f32) -> f32 {
  if (RMS) { return x[i] * rstd * w[c]; }
  return (x[i] - mean) * rstd * w[c] + b[c];
}

fn storeRow(base: u32, mean: f32, rstd: f32, lid: u32) {
  for (var c = lid; c < p.C; c += WG) { y[base + c] = normed(base + c, c, mean, rstd); }
}
