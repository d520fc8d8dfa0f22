// Comparing GPU results with f64 references: |gpu − ref| ≤ atol + rtol·|ref| elementwise, NaN always fails.

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface Comparison {
  label: string;
  pass: boolean;
  n: number;
  maxAbsErr: number;
  /** Worst |gpu − ref| / (atol + rtol·|ref|); ≤ 1 passes. */
  worst: number;
  worstIndex: number;
  tol: Tolerance;
}

export function compare(label: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance): Comparison {
  if (got.length !== want.length) {
    return {
      label: `${label} (length ${got.length} ≠ ${want.length})`,
      pass: false,
      n: got.length,
      maxAbsErr: Infinity,
      worst: Infinity,
      worstIndex: -1,
      tol,
    };
  }
  let maxAbsErr = 0;
  let worst = 0;
  let worstIndex = -1;
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const err = Math.abs(g - w);
    const r = Number.isFinite(g) ? err / (tol.atol + tol.rtol * Math.abs(w)) : Infinity;
    if (!(err <= maxAbsErr)) maxAbsErr = Number.isFinite(err) ? err : Infinity;
    if (!(r <= worst)) {
      worst = Number.isNaN(r) ? Infinity : r;
      worstIndex = i;
    }
  }
  return { label, pass: worst <= 1, n: got.length, maxAbsErr, worst, worstIndex, tol };
}

export function describe(c: Comparison, got?: ArrayLike<number>, want?: ArrayLike<number>): string {
  const at =
    c.worstIndex >= 0 && got && want
      ? ` (at ${c.worstIndex}: got ${got[c.worstIndex]}, want ${want[c.worstIndex]})`
      : '';
  return `${c.pass ? 'ok  ' : 'FAIL'} ${c.label}: n=${c.n} max|err|=${c.maxAbsErr.toExponential(2)} worst=${c.worst.toFixed(3)} of atol ${c.tol.atol} + rtol ${c.tol.rtol}${c.pass ? '' : at}`;
}

/** Rounds to f32 so the reference sees exactly the values the GPU gets. */
export function f32(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v) => Math.fround(v));
}

/** Elements of `got` that differ from `want`'s in any bit (Object.is: −0 ≠ +0, NaN = NaN). */
export function differingElements(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) n++;
  return n;
}

/** Arrays among `outs[1..]` that differ from `outs[0]` in any bit. */
export function differingArrays(outs: readonly ArrayLike<number>[]): number {
  return outs.slice(1).filter((o) => differingElements(o, outs[0]!) > 0).length;
}

/** The tolerance of a count (of differing elements, variants, cases) compared as one number: it must match exactly. */
export const EXACT_COUNT: Tolerance = { atol: 0.5, rtol: 0 };
