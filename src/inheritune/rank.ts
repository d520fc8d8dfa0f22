// The attention-rank measures on the host, in f64 (DESIGN.md "Attention rank"): the singular-value spectrum of a T×T
// attention matrix, k* (rank holding 90% of the energy Σσ²), m* (columns holding 90% of the mass), lazy layers and
// the suggested number of blocks to inherit. Pure CPU, browser-safe.

/** The share of energy or mass the measures ask for. */
export const RANK_THRESHOLD = 0.9;

/**
 * Slack on "≥ threshold": a sum of f64 roundings must not push an exact tie (the identity's 9 of 10 equal σ²) below
 * the line, while anything more than a few ulps away is still judged exactly.
 */
const TIE = 1e-12;

/** σ² of A [T,T] row-major, descending: the eigenvalues of the Gram matrix AᵀA (symmetric, so cheaper and stable). */
export function squaredSingularValues(a: ArrayLike<number>, T: number): Float64Array {
  if (a.length !== T * T) throw new Error(`squaredSingularValues: ${a.length} values for a ${T}×${T} matrix`);
  const g = gram(a, T);
  const { d, e } = tridiagonalize(g, T);
  symmetricTridiagonalEigenvalues(d, e);
  for (let i = 0; i < T; i++) if (d[i]! < 0) d[i] = 0; // rounding below an exact 0 of a semidefinite matrix
  return d.sort().reverse();
}

/**
 * Lower triangle of AᵀA [T,T]: G[j,k] = Σ_i A[i,j]·A[i,k] for k ≤ j, as dot products of A's columns (Aᵀ's rows,
 * contiguous).
 * A causal column j is zero above row j; starting each dot at its first non-zero row makes the Gram T³/6 flops.
 */
function gram(a: ArrayLike<number>, T: number): Float64Array {
  const at = new Float64Array(T * T);
  const first = new Int32Array(T).fill(T); // first non-zero row of each column
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < T; j++) {
      const x = a[i * T + j]!;
      at[j * T + i] = x;
      if (x !== 0 && first[j]! === T) first[j] = i;
    }
  }
  const g = new Float64Array(T * T);
  for (let j = 0; j < T; j++) {
    const oj = j * T;
    for (let k = 0; k <= j; k++) {
      const ok = k * T;
      // Two accumulators: a single one makes every add wait for the previous (a latency chain, half the speed).
      let s0 = 0;
      let s1 = 0;
      let i = Math.max(first[j]!, first[k]!);
      for (; i + 1 < T; i += 2) {
        s0 += at[oj + i]! * at[ok + i]!;
        s1 += at[oj + i + 1]! * at[ok + i + 1]!;
      }
      if (i < T) s0 += at[oj + i]! * at[ok + i]!;
      g[oj + k] = s0 + s1;
    }
  }
  return g;
}

/**
 * Householder reduction of a symmetric matrix (lower triangle of `g` [n,n] read, overwritten) to tridiagonal form:
 * diagonal d [n], sub-diagonal e [n] (e[k] couples k and k+1; e[n−1] = 0). Eigenvalues only, so the reflections are
 * applied and forgotten: 4n³/3 flops. Golub & Van Loan, Algorithm 8.3.1. (Updating both triangles would make every
 * inner loop a plain row sweep, but measured slower in V8 than doing half the work.)
 */
function tridiagonalize(g: Float64Array, n: number): { d: Float64Array; e: Float64Array } {
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  const v = new Float64Array(n);
  const p = new Float64Array(n);
  for (let k = 0; k < n - 1; k++) {
    const m = k + 1;
    // x = column k below the diagonal, rows m…n−1.
    let tail = 0;
    for (let i = m + 1; i < n; i++) tail += g[i * n + k]! ** 2;
    const x0 = g[m * n + k]!;
    if (tail === 0) {
      e[k] = x0; // already tridiagonal in this column
      continue;
    }
    const norm = Math.sqrt(x0 * x0 + tail);
    const alpha = x0 > 0 ? -norm : norm; // reflect away from x0's sign: no cancellation in v0
    v[m] = x0 - alpha;
    for (let i = m + 1; i < n; i++) v[i] = g[i * n + k]!;
    const beta = 2 / (v[m]! * v[m]! + tail);
    e[k] = alpha;
    // p = β·S·v over the trailing block S, read from its lower triangle (a dot along row i, a scatter into p[j < i]).
    for (let i = m; i < n; i++) p[i] = 0;
    for (let i = m; i < n; i++) {
      const o = i * n;
      const vi = v[i]!;
      let s0 = 0;
      let s1 = 0;
      let j = m;
      for (; j + 1 < i; j += 2) {
        const a0 = g[o + j]!;
        const a1 = g[o + j + 1]!;
        s0 += a0 * v[j]!;
        s1 += a1 * v[j + 1]!;
        p[j] += a0 * vi;
        p[j + 1] += a1 * vi;
      }
      if (j < i) {
        s0 += g[o + j]! * v[j]!;
        p[j] += g[o + j]! * vi;
      }
      p[i] += s0 + s1 + g[o + i]! * vi;
    }
    let pv = 0;
    for (let i = m; i < n; i++) {
      p[i] *= beta;
      pv += p[i]! * v[i]!;
    }
    // w = p − (β·pᵀv/2)·v (kept in p);  S ← S − v·wᵀ − w·vᵀ on the lower triangle
    const K = (beta * pv) / 2;
    for (let i = m; i < n; i++) p[i] -= K * v[i]!;
    for (let i = m; i < n; i++) {
      const o = i * n;
      const vi = v[i]!;
      const wi = p[i]!;
      for (let j = m; j <= i; j++) g[o + j] -= vi * p[j]! + wi * v[j]!;
    }
  }
  for (let i = 0; i < n; i++) d[i] = g[i * n + i]!;
  e[n - 1] = 0;
  return { d, e };
}

/**
 * Eigenvalues of the symmetric tridiagonal (d, e) by implicit QL with Wilkinson-style shifts (Numerical Recipes
 * tqli without vectors); d is overwritten with them (unsorted), e destroyed.
 */
function symmetricTridiagonalEigenvalues(d: Float64Array, e: Float64Array): void {
  const n = d.length;
  for (let l = 0; l < n; l++) {
    let iter = 0;
    for (;;) {
      let m = l;
      for (; m < n - 1; m++) {
        const dd = Math.abs(d[m]!) + Math.abs(d[m + 1]!);
        if (Math.abs(e[m]!) <= Number.EPSILON * dd) break;
      }
      if (m === l) break;
      if (++iter > 60) throw new Error('symmetric eigenvalues: QL did not converge in 60 iterations');
      let g = (d[l + 1]! - d[l]!) / (2 * e[l]!);
      let r = Math.sqrt(g * g + 1);
      g = d[m]! - d[l]! + e[l]! / (g + (g >= 0 ? r : -r));
      let s = 1;
      let c = 1;
      let p = 0;
      let i = m - 1;
      for (; i >= l; i--) {
        const f = s * e[i]!;
        const b = c * e[i]!;
        r = Math.sqrt(f * f + g * g); // Math.hypot guards overflow, not needed for σ² ≤ T², and is slow in V8
        e[i + 1] = r;
        if (r === 0) {
          // Underflow: the matrix split; deflate and restart the sweep.
          d[i + 1] -= p;
          e[m] = 0;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1]! - p;
        r = (d[i]! - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
      }
      if (r === 0 && i >= l) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
}

/** Running totals of `values` (already in the order to take them) as fractions of their sum: [r−1] = share of the first r. */
export function cumulativeFractions(values: ArrayLike<number>): Float64Array {
  const out = new Float64Array(values.length);
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i]!;
  let run = 0;
  for (let i = 0; i < values.length; i++) {
    run += values[i]!;
    out[i] = total > 0 ? run / total : 0;
  }
  return out;
}

/** Smallest r with fractions[r−1] ≥ threshold (0 when nothing reaches it: an all-zero matrix). */
export function firstReaching(fractions: ArrayLike<number>, threshold = RANK_THRESHOLD): number {
  for (let r = 0; r < fractions.length; r++) if (fractions[r]! >= threshold - TIE) return r + 1;
  return 0;
}

/** Share of Σσ² held by the top r singular values, for r = 1…T. */
export function energyFractions(a: ArrayLike<number>, T: number): Float64Array {
  return cumulativeFractions(squaredSingularValues(a, T));
}

/** Share of the total mass held by the r heaviest columns (column mass = column sum), for r = 1…T. */
export function massFractions(a: ArrayLike<number>, T: number): Float64Array {
  if (a.length !== T * T) throw new Error(`massFractions: ${a.length} values for a ${T}×${T} matrix`);
  const mass = new Float64Array(T);
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) mass[j] += a[i * T + j]!;
  return cumulativeFractions(mass.sort().reverse());
}

/** k*: smallest r with Σ_{i≤r} σ_i² / Σ σ_i² ≥ threshold. */
export function kStar(a: ArrayLike<number>, T: number, threshold = RANK_THRESHOLD): number {
  return firstReaching(energyFractions(a, T), threshold);
}

/** m*: fewest columns, heaviest first, holding ≥ threshold of the total mass. */
export function mStar(a: ArrayLike<number>, T: number, threshold = RANK_THRESHOLD): number {
  return firstReaching(massFractions(a, T), threshold);
}

export interface HeadRank {
  kStar: number;
  mStar: number;
}

/** A layer is lazy when every head is rank-1 or puts its mass on a single column. */
export function isLazyLayer(heads: readonly HeadRank[]): boolean {
  return heads.length > 0 && heads.every((h) => h.kStar === 1 || h.mStar === 1);
}

export interface Suggestion {
  n: number;
  reason: string;
}

/**
 * The number of blocks to inherit from per-layer lazy flags (L = lazy.length): the first j in 1…L−1 from which every
 * layer to the last is lazy (those layers add little, so inherit the ones before), else half the layers.
 */
export function suggestN(lazy: readonly boolean[]): Suggestion {
  const L = lazy.length;
  let j = L;
  while (j > 1 && lazy[j - 1]) j--;
  if (j < L) {
    const which = j === L - 1 ? `layer ${j} is lazy` : `layers ${j}…${L - 1} are all lazy`;
    return { n: j, reason: `${which} (every head rank-1 or single-column)` };
  }
  // Inherit(0) would copy no block at all: a 1-layer reference gets its one layer.
  const n = Math.max(1, Math.floor(L / 2));
  const why = L > 1 ? `layer ${L - 1} is not lazy` : 'a 1-layer model has no tail';
  return { n, reason: `no lazy tail was found (${why}), so half of the ${L} layer${L === 1 ? '' : 's'}` };
}
