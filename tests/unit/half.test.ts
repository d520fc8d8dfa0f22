// The host's IEEE half conversions (src/util/half.ts): f32ToF16Bits is the CPU reference of the to_half kernel, so it
// is checked here on its own: every half round-trips, every midpoint between neighbouring halves ties to the even
// one (and a float either side of it goes to the nearer), and random floats of every scale land on the nearest half
// found by a plain search over all of them.

import { describe, expect, it } from 'vitest';
import { f16ToF32Bits, f32ToF16Bits, roundToHalf } from '../../src/util/half';
import { Rng } from '../../src/util/rng';

const f = new Float32Array(1);
const u = new Uint32Array(f.buffer);
const fromBits = (bits: number) => {
  u[0] = bits;
  return f[0]!;
};
const widen = (h: number) => fromBits(f16ToF32Bits(h));
const bitsOf = (v: number) => {
  f[0] = v;
  return u[0]!;
};
const isNanHalf = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

describe('f32 → f16 (round to nearest even)', () => {
  it('round-trips every half; NaN stays NaN', () => {
    for (let h = 0; h < 65536; h++) {
      const back = f32ToF16Bits(widen(h));
      if (isNanHalf(h) ? !isNanHalf(back) : back !== h)
        expect.fail(`half 0x${h.toString(16)} came back as 0x${back.toString(16)}`);
    }
  });

  it('sends each midpoint to the even neighbour and the floats beside it to the nearer one', () => {
    for (let sign = 0; sign <= 0x8000; sign += 0x8000) {
      for (let h = 0; h < 0x7c00; h++) {
        const lo = widen(sign | h);
        const hi = h === 0x7bff ? (sign ? -65536 : 65536) : widen(sign | (h + 1)); // past the largest half: 2^16
        const mid = (lo + hi) / 2; // exact in f32: halves have 11 significant bits
        const up = h === 0x7bff ? sign | 0x7c00 : sign | (h + 1);
        const want = h & 1 ? up : sign | h;
        const below = fromBits(bitsOf(mid) - 1); // one float nearer zero, then one farther
        const above = fromBits(bitsOf(mid) + 1);
        const got = [f32ToF16Bits(mid), f32ToF16Bits(below), f32ToF16Bits(above)];
        if (got[0] !== want || got[1] !== (sign | h) || got[2] !== up)
          expect.fail(
            `between 0x${(sign | h).toString(16)} and 0x${up.toString(16)}: got ${got.map((g) => g.toString(16))}`,
          );
      }
    }
  });

  it('matches a search over all halves on random floats of every scale, with the edges', () => {
    const finite = Array.from({ length: 0x7c00 }, (_, h) => widen(h)); // ascending
    const nearest = (v: number): number => {
      const a = Math.abs(v);
      const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
      if (a >= 65520) return sign | 0x7c00; // the midpoint to 2^16 and up
      let lo = 0;
      let hi = finite.length - 1;
      while (hi - lo > 1) {
        const m = (lo + hi) >> 1;
        if (finite[m]! <= a) lo = m;
        else hi = m;
      }
      const dl = a - finite[lo]!;
      const dh = finite[hi]! - a;
      return sign | (dl < dh || (dl === dh && lo % 2 === 0) ? lo : hi);
    };
    const rng = new Rng(5);
    const values = [
      0,
      -0,
      1e-45,
      2 ** -25,
      2 ** -24,
      6e-8,
      65504,
      65519,
      65520,
      -1e30,
      ...Array.from({ length: 20_000 }, () => Math.fround(rng.normal() * 2 ** Math.floor(rng.next() * 50 - 30))),
    ];
    for (const v of values) {
      const got = f32ToF16Bits(v);
      if (got !== nearest(Math.fround(v)))
        expect.fail(`${v}: got 0x${got.toString(16)}, want 0x${nearest(Math.fround(v)).toString(16)}`);
    }
    expect(f32ToF16Bits(Infinity)).toBe(0x7c00);
    expect(f32ToF16Bits(-Infinity)).toBe(0xfc00);
    expect(isNanHalf(f32ToF16Bits(NaN))).toBe(true);
    expect(Array.from(roundToHalf([0.1, 3, 1e9]))).toEqual([0.0999755859375, 3, Infinity]);
  });
});
