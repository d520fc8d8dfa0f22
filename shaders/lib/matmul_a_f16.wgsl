// Operand A of the scalar-load matmul kernels stored as halves, two per u32 (element 2i in the low 16 bits): the f16
// activations of half-precision training. Widening a half to f32 is exact, so the product is the f32 kernel's on the
// rounded values, bit for bit.
@group(0) @binding(0) var<storage, read> A: array<u32>;

fn readA(i: u32) -> f32 {
  let w = unpack2x16float(A[i >> 1u]);
  return select(w.x, w.y, (i & 1u) == 1u);
}
