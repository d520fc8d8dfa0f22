// Operand B of the scalar-load matmul kernels stored as halves, two per u32 (element 2i in the low 16 bits): the f16
// weight copies (and rounded gradients) of f16-mixed training. Widening is exact, so the product is the f32 kernel's
// on the rounded values, bit for bit.
@group(0) @binding(1) var<storage, read> B: array<u32>;

fn readB(i: u32) -> f32 {
  let w = unpack2x16float(B[i >> 1u]);
  return select(w.x, w.y, (i & 1u) == 1u);
}
