// f32 → IEEE half bits, rounding to nearest even on the bits (not pack2x16float, whose rounding direction and
// out-of-range results WGSL leaves to the implementation): magnitudes past 65504 (after rounding) become ±infinity
// and NaN stays NaN. Shared by to_half.wgsl and LayerNorm's half output; the CPU reference is f32ToF16Bits in
// src/util/half.ts.
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
