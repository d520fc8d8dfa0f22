// crossentropy_seeded.wgsl's dlogits as f32, the row's V columns at dlogits[base..] (its gradAt).
@group(0) @binding(6) var<storage, read_write> dlogits: array<f32>;

fn storeZeros(base: u32, lid: u32) {
  for (var v = lid; v < p.V; v += WG) { dlogits[base + v] = 0.0; }
}

fn storeGrads(base: u32, l: f32, g: f32, t: u32, lid: u32) {
  for (var v = lid; v < p.V; v += WG) { dlogits[base + v] = gradAt(base, l, g, t, v); }
}
