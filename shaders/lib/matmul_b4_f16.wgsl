// Operand B of the vec4-load matmul kernel stored as halves: readB4(i), elements 4i … 4i + 3, is one 8-byte load of
// four halves, widened exactly.
@group(0) @binding(1) var<storage, read> B: array<vec2<u32>>;

fn readB4(i: u32) -> vec4<f32> {
  let w = B[i];
  return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}
