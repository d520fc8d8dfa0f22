// IEEE binary16 ("half") on the host: the exact widening used to read F16 checkpoints and half tensors, and the
// round-to-nearest-even narrowing that shaders/lib/half_bits.wgsl implements on the GPU (its CPU reference).

/** Exact: every half is representable in f32; subnormal halves become normal floats, NaN payloads are kept. */
export function f16ToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  let e = 113; // a subnormal is mant · 2^-24; shift until the implicit bit appears, lowering the exponent each time
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

let TABLE: Uint32Array | undefined;

/** All 65536 halves as f32 bit patterns: built once (256 KiB), then a conversion is one lookup per element. */
export function f16Table(): Uint32Array {
  if (!TABLE) {
    TABLE = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) TABLE[h] = f16ToF32Bits(h);
  }
  return TABLE;
}

/** Halves (bit patterns) widened to f32, exactly. */
export function halvesToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  const table = f16Table();
  for (let i = 0; i < src.length; i++) bits[i] = table[src[i]!]!;
  return out;
}

const f32Bits = new Uint32Array(1);
const f32View = new Float32Array(f32Bits.buffer);

/**
 * The half nearest to the f32 value `v` (ties to even), as its bit pattern: magnitudes past the largest half (65504,
 * after rounding) become ±infinity, NaN stays NaN (quiet, top payload bits kept), and values under half the smallest
 * subnormal (2^-25) become a signed zero. `v` is first rounded to f32, as the GPU sees it.
 */
export function f32ToF16Bits(v: number): number {
  f32View[0] = v;
  const b = f32Bits[0]!;
  const sign = (b >>> 16) & 0x8000;
  const e = (b >>> 23) & 0xff;
  const m = b & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (m ? 0x200 | (m >>> 13) : 0);
  if (e >= 143) return sign | 0x7c00; // 2^16 and up: past the largest half
  if (e >= 113) {
    // A normal half: rebias the exponent, keep 10 mantissa bits, round on the 13 dropped (a carry may reach infinity).
    const h = ((e - 112) << 10) | (m >>> 13);
    const rest = m & 0x1fff;
    return sign | (rest > 0x1000 || (rest === 0x1000 && h & 1) ? h + 1 : h);
  }
  if (e < 102) return sign; // under 2^-25: rounds to zero
  // A subnormal half counts units of 2^-24: the significand (implicit bit set) shifted right by 126 − e, rounded.
  const full = m | 0x800000;
  const shift = 126 - e;
  const h = full >>> shift;
  const rest = full & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  return sign | (rest > halfway || (rest === halfway && h & 1) ? h + 1 : h);
}

/** `x` rounded to halves (as f32 values): what a half tensor made from `x` holds. */
export function roundToHalf(x: ArrayLike<number>): Float32Array {
  const h = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) h[i] = f32ToF16Bits(x[i]!);
  return halvesToF32(h);
}
