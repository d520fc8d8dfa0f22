// The attention-rank analysis: rank.ts on matrices with known answers and against a naive Jacobi eigensolver; the
// lazy-layer rule and the suggested n; analyzeAttention on the ref-8L fixture against an f64 CPU forward; the
// `analyze` command's JSON and its usage errors.

import { mkdtemp, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { analyzeCommand } from '../../src/cli/analyze';
import { analyzeAttention } from '../../src/inheritune/analyze';
import {
  energyFractions,
  firstReaching,
  isLazyLayer,
  kStar,
  massFractions,
  mStar,
  squaredSingularValues,
  suggestN,
} from '../../src/inheritune/rank';
import { openCheckpoint } from '../../src/model/checkpoint';
import { splitTokens, validationWindows } from '../../src/io/corpus';
import { fileSource } from '../../src/io/node-source';
import { encodeGpt2 } from '../../src/io/tokenizer';
import { Model } from '../../src/model/model';
import { attentionProbsRef } from '../../src/reference/attention-probs';
import { Rng } from '../../src/util/rng';
import { symmetricEigenvalues } from './check-helpers';
import { getGpu } from './gpu';

const FIX = join(__dirname, '../../../shared/fixtures/ref-8L');
const TEXT = join(__dirname, '../../../shared/data/tinyshakespeare.txt');

/** Eigenvalues of AᵀA (Jacobi on the naively formed Gram matrix), descending. */
function jacobiSquaredSingularValues(a: Float64Array, T: number): Float64Array {
  const g = new Float64Array(T * T);
  for (let j = 0; j < T; j++)
    for (let k = 0; k < T; k++) for (let i = 0; i < T; i++) g[j * T + k] += a[i * T + j]! * a[i * T + k]!;
  return Float64Array.from(symmetricEigenvalues(g, T)).sort().reverse();
}

/** Row-stochastic causal matrix with log-normal weights: what a trained head's averaged attention looks like. */
function causalSoftmax(rng: Rng, T: number, spread: number): Float64Array {
  const a = new Float64Array(T * T);
  for (let i = 0; i < T; i++) {
    let s = 0;
    for (let j = 0; j <= i; j++) s += a[i * T + j] = Math.exp(spread * rng.normal());
    for (let j = 0; j <= i; j++) a[i * T + j]! /= s;
  }
  return a;
}

describe('rank measures (CPU)', () => {
  it('identity: all σ² equal, so k* = m* = ⌈0.9·T⌉ (an exact tie at T = 10 counts as reaching 90%)', () => {
    for (const [T, want] of [
      [10, 9],
      [7, 7],
      [20, 18],
      [1, 1],
    ] as const) {
      const a = new Float64Array(T * T);
      for (let i = 0; i < T; i++) a[i * T + i] = 1;
      expect(kStar(a, T), `T=${T}`).toBe(want);
      expect(mStar(a, T), `T=${T}`).toBe(want);
      expect(Array.from(squaredSingularValues(a, T)).every((v) => Math.abs(v - 1) < 1e-12)).toBe(true);
    }
    const a = new Float64Array(100).map((_, e) => (e % 11 === 0 ? 1 : 0));
    expect(kStar(a, 10, 0.5)).toBe(5);
  });

  it('all attention on column 0 (the first token): rank 1, one column, σ² = [T, 0, …]', () => {
    const T = 12;
    const a = new Float64Array(T * T);
    for (let i = 0; i < T; i++) a[i * T] = 1;
    const s = squaredSingularValues(a, T);
    expect(s[0]).toBeCloseTo(T, 10);
    expect(Math.max(...s.subarray(1))).toBeLessThan(1e-10);
    expect(kStar(a, T)).toBe(1);
    expect(mStar(a, T)).toBe(1);
  });

  it('uniform causal attention: m* from harmonic column masses, σ² as Jacobi finds them', () => {
    for (const T of [5, 16, 33]) {
      const a = new Float64Array(T * T);
      for (let i = 0; i < T; i++) for (let j = 0; j <= i; j++) a[i * T + j] = 1 / (i + 1);
      // Column j holds Σ_{i≥j} 1/(i+1); columns are heaviest first in index order; the total is T.
      let run = 0;
      let want = 0;
      for (let j = 0; j < T && !want; j++) {
        for (let i = j; i < T; i++) run += 1 / (i + 1);
        if (run >= 0.9 * T) want = j + 1;
      }
      expect(mStar(a, T), `T=${T}`).toBe(want);
      const ref = jacobiSquaredSingularValues(a, T);
      const got = squaredSingularValues(a, T);
      for (let i = 0; i < T; i++) expect(Math.abs(got[i]! - ref[i]!)).toBeLessThan(1e-10 * ref[0]!);
      expect(kStar(a, T)).toBe(
        firstReaching(
          Float64Array.from(
            ref,
            (_, r) => ref.subarray(0, r + 1).reduce((x, y) => x + y) / ref.reduce((x, y) => x + y),
          ),
        ),
      );
      console.log(
        `uniform causal T=${T}: k*=${kStar(a, T)} m*=${mStar(a, T)} σ²[0..2]=${Array.from(got.subarray(0, 3), (v) => v.toFixed(4)).join(', ')}`,
      );
    }
  });

  it('random dense, causal, low-rank and zero matrices: spectrum, k* and m* match Jacobi and a plain column sort', () => {
    const rng = new Rng(5);
    const cases: [string, Float64Array, number][] = [];
    for (const T of [1, 2, 5, 17, 40]) cases.push([`dense T=${T}`, rng.normals(T * T), T]);
    for (const T of [3, 33]) cases.push([`causal softmax T=${T}`, causalSoftmax(rng, T, 2), T]);
    // Rank 3: most reflections meet an already-zero column, and the Gram has T − 3 zero eigenvalues.
    const [T, R] = [20, 3];
    const U = rng.normals(T * R);
    const V = rng.normals(T * R);
    const low = new Float64Array(T * T);
    for (let i = 0; i < T; i++)
      for (let j = 0; j < T; j++) for (let r = 0; r < R; r++) low[i * T + j] += U[i * R + r]! * V[j * R + r]!;
    cases.push(['rank 3 T=20', low, T]);
    cases.push(['zero T=4', new Float64Array(16), 4]);
    for (const [label, a, n] of cases) {
      const ref = jacobiSquaredSingularValues(a, n);
      const got = squaredSingularValues(a, n);
      for (let i = 0; i < n; i++)
        expect(Math.abs(got[i]! - ref[i]!), `${label} σ²[${i}]`).toBeLessThanOrEqual(1e-10 * (ref[0]! || 1));
      let total = 0;
      for (const v of ref) total += v;
      let run = 0;
      let wantK = 0;
      for (let r = 0; r < n && total > 0 && !wantK; r++) {
        run += ref[r]!;
        if (run >= 0.9 * total) wantK = r + 1;
      }
      expect(kStar(a, n), label).toBe(wantK);
      const mass = new Float64Array(n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) mass[j] += a[i * n + j]!;
      const sorted = Array.from(mass).sort((x, y) => y - x);
      const massTotal = sorted.reduce((x, y) => x + y, 0);
      let m = 0;
      let wantM = 0;
      for (let r = 0; r < n && massTotal > 0 && !wantM; r++) {
        m += sorted[r]!;
        if (m >= 0.9 * massTotal) wantM = r + 1;
      }
      if (label.startsWith('causal') || label.startsWith('zero')) expect(mStar(a, n), label).toBe(wantM); // masses of signed matrices are not attention
      expect(energyFractions(a, n).every((f, r, all) => r === 0 || f >= all[r - 1]! - 1e-12)).toBe(true);
    }
  });

  it('is fast enough for GPT-2 124M at T = 256 (144 heads)', () => {
    const T = 256;
    const a = Float32Array.from(causalSoftmax(new Rng(9), T, 2));
    kStar(a, T); // warm the JIT
    const t0 = performance.now();
    for (let r = 0; r < 5; r++) {
      kStar(a, T);
      mStar(a, T);
    }
    const ms = (performance.now() - t0) / 5;
    console.log(`k* and m* of one 256×256 head: ${ms.toFixed(1)} ms (144 heads ≈ ${((144 * ms) / 1000).toFixed(1)} s)`);
    expect(ms).toBeLessThan(200);
  });

  it('lazy layers and the suggested n', () => {
    expect(
      isLazyLayer([
        { kStar: 1, mStar: 7 },
        { kStar: 4, mStar: 1 },
      ]),
    ).toBe(true);
    expect(
      isLazyLayer([
        { kStar: 1, mStar: 7 },
        { kStar: 2, mStar: 2 },
      ]),
    ).toBe(false);
    const f = false;
    const t = true;
    expect(suggestN([f, f, t, t])).toEqual({ n: 2, reason: expect.stringMatching(/^layers 2…3 are all lazy/) });
    expect(suggestN([t, f, f, t])).toEqual({ n: 3, reason: expect.stringMatching(/^layer 3 is lazy/) });
    expect(suggestN([t, t, t, t])).toMatchObject({ n: 1 }); // j = 0 would inherit nothing: the tail starts at 1 at most
    expect(suggestN([t, t, t, f]).n).toBe(2);
    expect(suggestN([t, t, t, f]).reason).toMatch(/no lazy tail was found/);
    expect(suggestN(new Array(7).fill(false)).n).toBe(3);
    expect(suggestN([t]).n).toBe(1);
  });
});

describe('analyzeAttention on ref-8L (WebGPU vs f64 CPU)', () => {
  it('gives every head the k* and m* of the f64 forward, except flips within 1e-4 of the 90% line', async () => {
    const gpu = await getGpu();
    const src = await fileSource(join(FIX, 'model.safetensors'));
    const ckpt = await openCheckpoint(src, { configJson: readFileSync(join(FIX, 'config.json'), 'utf8') });
    const model = await Model.create(gpu, ckpt.config, (n) => ckpt.read(n));
    try {
      const [B, T] = [2, 32];
      const { val } = splitTokens(await encodeGpt2(readFileSync(TEXT, 'utf8')));
      const { inputs } = validationWindows(val, T, B);
      const progress: number[] = [];
      const poolBefore = gpu.pool.stats().inUse;
      const report = await analyzeAttention(model, inputs, B, T, (d) => progress.push(d));
      expect(gpu.pool.stats().inUse).toBe(poolBefore); // everything the analysis made went back
      const { layers: L, heads: H, width: C } = ckpt.config;
      expect(progress).toEqual(Array.from({ length: L }, (_, l) => l + 1));

      const host = new Map<string, Float64Array>();
      for (const name of model.params.keys()) host.set(name, Float64Array.from(await ckpt.read(name)));
      const ref = attentionProbsRef(
        host,
        { V: ckpt.config.vocabSize, P: ckpt.config.positions, C, L, H },
        inputs,
        B,
        T,
      );
      let flips = 0;
      let nearest = Infinity;
      const rows: string[] = [];
      for (let l = 0; l < L; l++) {
        const cells: string[] = [];
        for (let h = 0; h < H; h++) {
          const a = ref[l]!.subarray(h * T * T, (h + 1) * T * T);
          const got = report.layers[l]!.heads[h]!;
          for (const [what, frac, g] of [
            ['k*', energyFractions(a, T), got.kStar],
            ['m*', massFractions(a, T), got.mStar],
          ] as const) {
            const want = firstReaching(frac);
            for (const f of frac) nearest = Math.min(nearest, Math.abs(f - 0.9));
            if (g === want) continue;
            // A flip: every fraction between the two answers must sit on the line, where f32 and f64 may disagree.
            flips++;
            for (let r = Math.min(g, want); r < Math.max(g, want); r++)
              expect(Math.abs(frac[r - 1]! - 0.9), `layer ${l} head ${h} ${what}: GPU ${g}, f64 ${want}`).toBeLessThan(
                1e-4,
              );
          }
          cells.push(`${got.kStar}/${got.mStar}`);
        }
        rows.push(`  layer ${l}: ${cells.join(' ')}${report.layers[l]!.lazy ? ' lazy' : ''}`);
      }
      console.log(
        `ref-8L, B=${B} T=${T}: ${flips} threshold flips; closest f64 fraction to 0.9 is ${nearest.toExponential(2)} away\n${rows.join('\n')}\n  suggested n = ${report.suggestion.n}: ${report.suggestion.reason}`,
      );
      expect(flips).toBeLessThanOrEqual(2);
      if (flips === 0) {
        const lazy = ref.map((probs) =>
          isLazyLayer(
            Array.from({ length: H }, (_, h) => ({
              kStar: kStar(probs.subarray(h * T * T, (h + 1) * T * T), T),
              mStar: mStar(probs.subarray(h * T * T, (h + 1) * T * T), T),
            })),
          ),
        );
        expect(report.layers.map((r) => r.lazy)).toEqual(lazy);
        expect(report.suggestion).toEqual(suggestN(lazy));
      }
      expect(report).toMatchObject({ B, T, threshold: 0.9 });
    } finally {
      model.dispose();
      await src.close();
    }
  });
});

describe('inheritune analyze', () => {
  it('prints one JSON object with k*/m* for every head and the suggestion', async () => {
    // A short corpus: its validation split still holds 2 windows of 16, and tokenizing it is quick.
    const dir = await mkdtemp(join(tmpdir(), 'analyze-'));
    const data = join(dir, 'small.txt');
    await writeFile(data, readFileSync(TEXT, 'utf8').slice(0, 20_000));
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      out.push(String(s));
      return true;
    });
    const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(
        await analyzeCommand(['--model', FIX, '--data', data, '--batch', '2', '--ctx=16', '--json'], await getGpu()),
      ).toBe(0);
    } finally {
      spy.mockRestore();
      errSpy.mockRestore();
    }
    const r = JSON.parse(out.join('')) as {
      layers: number;
      heads: number;
      batch: number;
      ctx: number;
      rank: { layer: number; lazy: boolean; heads: { k_star: number; m_star: number }[] }[];
      suggestion: { n: number; reason: string };
    };
    expect(r).toMatchObject({ layers: 8, heads: 4, batch: 2, ctx: 16 });
    expect(r.rank.length).toBe(8);
    for (const l of r.rank) {
      expect(l.heads.length).toBe(4);
      for (const h of l.heads) {
        expect(h.k_star).toBeGreaterThanOrEqual(1);
        expect(h.k_star).toBeLessThanOrEqual(16);
        expect(h.m_star).toBeGreaterThanOrEqual(1);
        expect(h.m_star).toBeLessThanOrEqual(16);
      }
    }
    expect(r.suggestion.n).toBeGreaterThanOrEqual(1);
    expect(r.suggestion.n).toBeLessThan(8);
    expect(r.suggestion).toEqual(suggestN(r.rank.map((l) => l.lazy)));
  });

  it('rejects bad options with usage errors', async () => {
    await expect(analyzeCommand(['--data', TEXT])).rejects.toThrow(/--model is required/);
    await expect(analyzeCommand(['--model', FIX, '--data', TEXT, '--ctx', '257'])).rejects.toThrow(
      /--ctx must be from 1 to the model's 256 positions/,
    );
    await expect(analyzeCommand(['--model', FIX, '--data', TEXT, '--batch', '0'])).rejects.toThrow(
      /--batch must be at least 1/,
    );
    await expect(analyzeCommand(['--model', FIX, '--data', TEXT, '--depth', '3'])).rejects.toThrow(
      /unknown option --depth/,
    );
    await expect(analyzeCommand(['--model', join(FIX, 'nope'), '--data', TEXT])).rejects.toThrow(/model not found/);
  });
});
