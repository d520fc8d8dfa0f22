// crossentropy_seeded.wgsl's dlogits as f32, the row's V columns at dlogits[base..]: dz_v = g·(softmax(z)_v − [v = t])
// with softmax(z)_v = exp(z_v − lse), as crossentropy_backward computes it.
@group(0) @binding(6) var<storage, read_write> dlogits: array<f32>;

fn storeZeros(base: u32, lid: u32) {
  for (var v = lid; v < p.V; v += WG) { dlogits[base + v] = 0.0; }
}

fn storeGrads(base: u32, l: f32, g: f32, t: u32, lid: u32) {
  for (var v = lid; v < p.V; v += WG) {
    var d = exp(logits[base + v] - l);
    if (v == t) { d -= 1.0; }
    dlogits[base + v] = g * d;
  }
}
