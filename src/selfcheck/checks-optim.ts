// Self-checks of the optimizer kernels, step by step against the f64 references: AdamW over one flat buffer with a
// GPU-side global-norm clip, and Muon (momentum, Newton–Schulz, update) on a wide and a tall matrix.

import { Rng } from '../util/rng';
import { fromArray, globalNorm, tidyAsync } from '../tensor';
import { launchAdamW } from '../optim/adamw';
import { LossScaler } from '../optim/loss-scale';
import { launchGuard, launchMuonMomentum, launchMuonUpdate, muonScale, newtonSchulz, nsStride } from '../optim/muon';
import { adamwStepRef, muonMomentumRef, newtonSchulzRef } from '../reference/optim';
import { l2NormRef } from '../reference/linalg';
import { roundToHalf } from '../util/half';
import { differingElements, EXACT_COUNT, f32 } from './compare';
import type { Check } from './harness';

const STEPS = 4;

const adamwCheck: Check = {
  name: 'adamw',
  kernels: ['adamw', 'adamw_half', 'reduce_sum'],
  async run({ gpu, expect }) {
    const rng = new Rng(11);
    // A flat buffer of 2-D (decayed) and 1-D (not decayed) tensors, each view starting on a 64-element boundary.
    const decayed = 7 * 33;
    const split = Math.ceil(decayed / 64) * 64;
    const n = split + 65;
    await tidyAsync(async () => {
      const P = f32(rng.normals(n));
      const p = fromArray(gpu, P, [n]);
      const m = fromArray(gpu, new Float64Array(n), [n]);
      const v = fromArray(gpu, new Float64Array(n), [n]);
      // The twin that also writes the f16 weight copy (f16-mixed training) runs on its own buffers: the same bits.
      const [p2, m2, v2] = [P, new Float64Array(n), new Float64Array(n)].map((x) => fromArray(gpu, x, [n]));
      const copy = fromArray(gpu, new Float64Array(n), [n], 'f16');
      const Pr = Float64Array.from(P);
      const Mr = new Float64Array(n);
      const Vr = new Float64Array(n);
      const h = { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, wd: 0.1, maxNorm: 1.0 };
      for (let step = 1; step <= STEPS; step++) {
        // Step 1 and 3 have a large gradient (clipped), 2 and 4 a small one (not clipped).
        const G = f32(rng.normals(n, step % 2 ? 1 : 0.01));
        const g = fromArray(gpu, G, [n]);
        const norm = globalNorm([g]);
        for (const [lo, hi, wd] of [
          [0, split, h.wd],
          [split, n, 0],
        ] as const) {
          const sl = (t: typeof p) => t.slice(lo, [hi - lo]).view;
          const common = {
            grad: sl(g),
            n: hi - lo,
            step,
            lr: h.lr,
            beta1: h.beta1,
            beta2: h.beta2,
            eps: h.eps,
            wd,
            gradNorm: norm.view,
            maxNorm: h.maxNorm,
          };
          launchAdamW(gpu, { ...common, param: sl(p), m: sl(m), v: sl(v) });
          // The second range has an odd length: its last word of halves is padded.
          launchAdamW(gpu, { ...common, param: sl(p2), m: sl(m2), v: sl(v2), half: sl(copy) });
        }
        const gn = l2NormRef([G]);
        expect(`step ${step}: global norm`, await norm.readF32(), [gn], { atol: 1e-5, rtol: 1e-5 });
        const pr = [Pr.subarray(0, split), Pr.subarray(split)];
        adamwStepRef(pr[0]!, G.subarray(0, split), Mr.subarray(0, split), Vr.subarray(0, split), step, h, gn);
        adamwStepRef(pr[1]!, G.subarray(split), Mr.subarray(split), Vr.subarray(split), step, { ...h, wd: 0 }, gn);
        const tol = { atol: 1e-6, rtol: 1e-5 };
        expect(`step ${step}: params`, await p.readF32(), Pr, tol);
        expect(`step ${step}: first moment`, await m.readF32(), Mr, tol);
        expect(`step ${step}: second moment`, await v.readF32(), Vr, { atol: 1e-9, rtol: 1e-4 });
        const got = await p.readF32();
        const same = async (x: typeof p, y: typeof p) => differingElements(await x.readF32(), await y.readF32());
        expect(
          `step ${step}: adamw_half params, moments (bits)`,
          [await same(p2, p), await same(m2, m), await same(v2, v)],
          [0, 0, 0],
          EXACT_COUNT,
        );
        expect(
          `step ${step}: adamw_half f16 copy (bits)`,
          [differingElements(await copy.readF32(), roundToHalf(got))],
          [0],
          EXACT_COUNT,
        );
      }
    });
  },
};

const muonCheck: Check = {
  name: 'muon',
  kernels: ['muon_momentum', 'scale_by_norm', 'matmul', 'transpose', 'muon_update', 'reduce_sum'],
  async run({ gpu, expect }) {
    const rng = new Rng(12);
    for (const [R, C] of [
      [7, 33],
      [33, 7],
      [16, 16],
    ] as const) {
      await tidyAsync(async () => {
        const n = R * C;
        const P = f32(rng.normals(n, 0.1));
        const p = fromArray(gpu, P, [R, C]);
        const buf = fromArray(gpu, new Float64Array(n), [n]);
        const upd = fromArray(gpu, new Float64Array(n), [n]);
        const ortho = fromArray(gpu, new Float64Array(n), [n]);
        const Pr = Float64Array.from(P);
        const Br = new Float64Array(n);
        const [lr, wd, mu] = [0.02, 0.01, 0.95];
        for (let step = 1; step <= 3; step++) {
          const G = f32(rng.normals(n));
          const g = fromArray(gpu, G, [n]);
          launchMuonMomentum(gpu, g.view, buf.view, upd.view, n, mu);
          newtonSchulz(gpu, upd.view, ortho.view, R, C);
          launchMuonUpdate(gpu, p.view, ortho.view, n, lr, wd, muonScale(R, C));
          const U = muonMomentumRef(G, Br, mu);
          const O = newtonSchulzRef(U, R, C);
          for (let i = 0; i < n; i++) Pr[i] = Pr[i]! * (1 - lr * wd) - lr * muonScale(R, C) * O[i]!;
          const tag = `${R}×${C} step ${step}`;
          expect(`${tag}: momentum buffer`, await buf.readF32(), Br, { atol: 1e-5, rtol: 1e-5 });
          // Five quintic iterations amplify f32 rounding; 1e-3 is still far below the entries' size (~0.1–1).
          expect(`${tag}: Newton–Schulz`, await ortho.readF32(), O, { atol: 1e-3, rtol: 1e-3 });
          expect(`${tag}: params`, await p.readF32(), Pr, { atol: 2e-5, rtol: 1e-4 });
        }
      });
    }
    // Batched: three matrices of one shape, each starting on its own 256-byte boundary, in one set of matmuls.
    for (const [R, C] of [
      [7, 33],
      [33, 7],
    ] as const) {
      await tidyAsync(async () => {
        const n = R * C;
        const stride = nsStride(R, C);
        const Gs = [0, 1, 2].map(() => f32(rng.normals(n)));
        const G = new Float32Array(3 * stride).fill(NaN); // padding never read: NaN would show if it were
        Gs.forEach((g, l) => {
          G.set(g, l * stride);
        });
        const g = fromArray(gpu, G, [3 * stride]);
        const out = fromArray(gpu, new Float64Array(3 * stride), [3 * stride]);
        newtonSchulz(gpu, g.view, out.view, R, C, 5, 3, stride);
        const got = await out.readF32();
        Gs.forEach((gl, l) => {
          expect(
            `${R}×${C} batch of 3, matrix ${l}: Newton–Schulz`,
            got.subarray(l * stride, l * stride + n),
            newtonSchulzRef(Float64Array.from(gl), R, C),
            { atol: 1e-3, rtol: 1e-3 },
          );
        });
      });
    }
  },
};

const guardCheck: Check = {
  name: 'guard_step',
  kernels: ['guard_step'],
  async run({ gpu, expect }) {
    // [loss, norm, flag in] → [norm out, flag out]; the reference is the rule itself: any non-finite input or a set
    // flag gives (NaN, 1), else the inputs pass through.
    const cases: [number, number, number][] = [
      [2.5, 0.75, 0],
      [NaN, 0.75, 0],
      [2.5, Infinity, 0],
      [-Infinity, 1, 0],
      [2.5, 0.75, 1],
      [0, 0, 0],
    ];
    const exact = { atol: 1e-30, rtol: 0 };
    const isNaN1 = (x: number) => (Number.isNaN(x) ? 1 : 0);
    for (const [loss, norm, flag] of cases) {
      await tidyAsync(async () => {
        const l = fromArray(gpu, [loss], [1]);
        const n = fromArray(gpu, [norm, 7], [2]);
        const f = fromArray(gpu, [flag], [1]);
        launchGuard(gpu, l.view, n.view, f.view);
        const bad = !Number.isFinite(loss) || !Number.isFinite(norm) || flag !== 0;
        const [gotNorm, factor] = await n.readF32();
        const [gotFlag] = await f.readF32();
        const tag = `loss ${loss}, norm ${norm}, flag ${flag}`;
        expect(`${tag}: flag`, [gotFlag!], [bad ? 1 : 0], exact);
        if (bad) expect(`${tag}: norm is NaN (1 = yes)`, [isNaN1(gotNorm!)], [1], exact);
        else expect(`${tag}: norm passes through, gradient factor 1`, [gotNorm!, factor!], [norm, 1], exact);
      });
    }
    // With a loss scaler (interval 3, scales 2^-2 … 2^5, accum 3), against the rule written out on the host.
    const cfg = { init: 8, interval: 3, min: 0.25, max: 32 };
    const scaled: { loss: number; norm: number; flag: number; state: [number, number, number] }[] = [
      { loss: 2, norm: 12, flag: 0, state: [8, 0, 0] }, // clean: norm/8, count 1
      { loss: 2, norm: 12, flag: 0, state: [8, 2, 1] }, // the third clean one: the scale doubles
      { loss: 2, norm: 12, flag: 0, state: [32, 2, 0] }, // doubles no further than max
      { loss: 2, norm: Infinity, flag: 0, state: [8, 2, 4] }, // overflow: skip, halve, count restarts
      { loss: 2, norm: NaN, flag: 0, state: [0.5, 1, 0] }, // overflow down to min
      { loss: 2, norm: Infinity, flag: 0, state: [0.25, 1, 0] }, // overflow at min: halts
      { loss: NaN, norm: 12, flag: 0, state: [8, 1, 0] }, // a non-finite loss halts, scale untouched
      { loss: 2, norm: 12, flag: 1, state: [8, 1, 0] }, // the sticky flag halts
    ];
    for (const c of scaled) {
      await tidyAsync(async () => {
        const scaler = new LossScaler(gpu, cfg, 3);
        try {
          scaler.restore({ scale: c.state[0], clean: c.state[1], skipped: c.state[2] });
          const l = fromArray(gpu, [c.loss], [1]);
          const n = fromArray(gpu, [c.norm, 7], [2]);
          const f = fromArray(gpu, [c.flag], [1]);
          launchGuard(gpu, l.view, n.view, f.view, scaler);
          const [scale, clean, skipped] = c.state;
          const inv = Math.fround(1 / 3);
          let want: { norm: number; factor: number; flag: number; state: number[]; seed: number };
          const haltOrKeep = { norm: NaN, factor: 0, flag: 1, state: [scale, clean, skipped, 0], seed: scale * inv };
          if (!Number.isFinite(c.loss) || c.flag !== 0) want = haltOrKeep;
          else if (!Number.isFinite(c.norm)) {
            const next = Math.max(scale / 2, cfg.min);
            want =
              scale > cfg.min
                ? { norm: NaN, factor: 0, flag: 0, state: [next, 0, skipped + 1, 1], seed: next * inv }
                : haltOrKeep;
          } else {
            const grow = clean + 1 >= cfg.interval;
            const next = grow ? Math.min(scale * 2, cfg.max) : scale;
            want = {
              norm: c.norm / scale,
              factor: 1 / scale,
              flag: 0,
              state: [next, grow ? 0 : clean + 1, skipped, 0],
              seed: Math.fround(next * inv),
            };
          }
          const [gotNorm, factor] = await n.readF32();
          const tag = `scaled: loss ${c.loss}, norm ${c.norm}, flag ${c.flag}, state ${c.state.join('/')}`;
          expect(`${tag}: flag`, await f.readF32(), [want.flag], exact);
          expect(`${tag}: norm NaN (1 = yes)`, [isNaN1(gotNorm!)], [isNaN1(want.norm)], exact);
          if (!Number.isNaN(want.norm)) expect(`${tag}: true norm`, [gotNorm!], [want.norm], exact);
          expect(`${tag}: gradient factor`, [factor!], [want.factor], exact);
          expect(`${tag}: state`, await scaler.state.readF32(), want.state, exact);
          expect(`${tag}: next seed`, await scaler.seed.readF32(), [want.seed], exact);
        } finally {
          scaler.dispose();
        }
      });
    }
  },
};

export const optimChecks: Check[] = [adamwCheck, muonCheck, guardCheck];
