// y = x rounded to IEEE halves, two per u32 (element 2i in the low 16 bits, as unpack2x16float reads them): the
// storage of activations that half-precision training keeps for backward. Thread i packs elements 2i and 2i + 1 (an
// odd count pads the last word with +0).
// The rounding is done here on the bits, not by pack2x16float, whose rounding direction and out-of-range results WGSL
// leaves to the implementation: ties go to even, magnitudes past 65504 (after rounding) become ±infinity and NaN stays
// NaN, so a run rounds alike on every adapter and a non-finite activation still trips the step guard. The CPU
// reference is f32ToF16Bits in src/util/half.ts.
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

fn halfBits(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  let sign = (b >> 16u) & 0x8000u;
  let e = (b >> 23u) & 0xffu;
  let m = b & 0x7fffffu;
  if (e == 0xffu) { return sign | 0x7c00u | select(0u, 0x200u | (m >> 13u), m != 0u); }
  if (e >= 143u) { return sign | 0x7c00u; } // 2^16 and up
  if (e >= 113u) {
    // A normal half: rebias, keep 10 mantissa bits, round on the 13 dropped (a carry may reach the exponent, or infinity).
    let h = ((e - 112u) << 10u) | (m >> 13u);
    let rest = m & 0x1fffu;
    return sign | (h + select(0u, 1u, rest > 0x1000u || (rest == 0x1000u && (h & 1u) == 1u)));
  }
  if (e < 102u) { return sign; } // under 2^-25
  // A subnormal half counts units of 2^-24: the significand with its implicit bit, shifted right by 126 − e, rounded.
  let full = m | 0x800000u;
  let shift = 126u - e;
  let h = full >> shift;
  let rest = full & ((1u << shift) - 1u);
  let halfway = 1u << (shift - 1u);
  return sign | (h + select(0u, 1u, rest > halfway || (rest == halfway && (h & 1u) == 1u)));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  let j = 2u * i;
  if (j >= p.n) { return; }
  var hi = 0u;
  if (j + 1u < p.n) { hi = halfBits(x[j + 1u]); }
  y[i] = halfBits(x[j]) | (hi << 16u);
}
