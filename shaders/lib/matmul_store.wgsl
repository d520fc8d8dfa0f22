// How the matmul kernels store an output (matmul_tile.wgsl's register-tiled kernels and matmul_sgmat.wgsl's
// tensor-core one): their Params, and alpha·acc + bias + beta·C for a quad of outputs handed to the output include's
// storeC4 (matmul_out.wgsl or an epilogue). The including kernel declares HAS_BIAS, the bias binding and the output
// include.
struct Params {
  M: u32, N: u32, K: u32,
  strideA: u32, strideB: u32, strideC: u32, // elements between batch entries (0 broadcasts)
  alpha: f32, beta: f32,
  kChunk: u32, // split-K: batch entry z sums k in [z·kChunk, (z+1)·kChunk) only (0: all of K)
}

// alpha·acc + bias + beta·C for the output at column n, C[idx].
fn outValue(acc: f32, n: u32, idx: u32) -> f32 {
  var y = p.alpha * acc;
  if (HAS_BIAS) { y += bias[n]; }
  if (p.beta != 0.0) { y += p.beta * C[idx]; }
  return y;
}

// The four outputs of row gm from column gn on, those inside M×N, stored through the output include's storeC4
// (plainly, or with an epilogue). Components are set by name, never by a run-time index, so the quad stays in
// registers; an output past N is neither read (bias, C) nor stored.
fn storeQuad(gm: u32, gn: u32, cBase: u32, v: vec4<f32>) {
  if (gm >= p.M || gn >= p.N) { return; }
  let idx = cBase + gm * p.N + gn;
  let count = min(4u, p.N - gn);
  var x = vec4<f32>(outValue(v.x, gn, idx), 0.0, 0.0, 0.0);
  if (count > 1u) { x.y = outValue(v.y, gn + 1u, idx + 1u); }
  if (count > 2u) { x.z = outValue(v.z, gn + 2u, idx + 2u); }
  if (count > 3u) { x.w = outValue(v.w, gn + 3u, idx + 3u); }
  storeC4(idx, x, count);
}

