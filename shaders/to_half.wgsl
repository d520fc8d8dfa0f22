// y = x rounded to IEEE halves, two per u32 (element 2i in the low 16 bits, as unpack2x16float reads them): the
// storage of activations that half-precision training keeps for backward. Thread i packs elements 2i and 2i + 1 (an
// odd count pads the last word with +0).
// The rounding (shaders/lib/half_bits.wgsl) is done on the bits, not by pack2x16float: ties go to even, magnitudes
// past 65504 become ±infinity and NaN stays NaN, so a run rounds alike on every adapter and a non-finite activation
// still trips the step guard. LayerNorm can write its output this way itself (layernorm_out_f16.wgsl).
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

//#include half_bits

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  let j = 2u * i;
  if (j >= p.n) { return; }
  var hi = 0u;
  if (j + 1u < p.n) { hi = halfBits(x[j + 1u]); }
  y[i] = halfBits(x[j]) | (hi << 16u);
}
