// Learning-rate schedules, and AdamW over a GPT-2's parameter banks checked update by update against the f64
// references (GPT-2 gradients from the graph reference, then the AdamW reference per tensor).

import { gpt2Config } from '../../src/model/gpt2/config';
import { describe, expect, it } from 'vitest';
import { Model } from '../../src/model/model';
import { paramLayout, paramSpecs } from '../../src/model/params';
import { gpt2Init } from '../../src/model/gpt2/params';
import {
  ADAMW_DEFAULTS,
  isMuonMatrix,
  MUON_DEFAULTS,
  muonBatches,
  Optimizer,
  optimizerConfig,
} from '../../src/optim/optimizer';
import { lrAt, validateSchedule, type Schedule } from '../../src/optim/schedule';
import { gpt2LossAndGradsRef } from '../../src/reference/gpt2';
import { adamwStepRef, muonMomentumRef, newtonSchulzRef } from '../../src/reference/optim';
import { backward } from '../../src/tensor';
import { Rng } from '../../src/util/rng';
import { globalL2, gpuGrads, worstOfTolerance } from './check-helpers';
import { getGpu } from './gpu';

/** DESIGN.md's Muon matrices of a GPT-2 (c_attn, attn.c_proj, c_fc, mlp.c_proj), as the family's table must mark them. */
const MUON_NAME = /^h\.\d+\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$/;

describe('schedules', () => {
  it('warms up linearly, then follows the cosine to min_lr', () => {
    const s: Schedule = { kind: 'cosine', lr: 1e-3, warmup: 50, total: 400, minLr: 1e-4 };
    validateSchedule(s);
    expect(lrAt(s, 0)).toBeCloseTo(1e-3 / 51, 12);
    expect(lrAt(s, 49)).toBeCloseTo((1e-3 * 50) / 51, 12);
    expect(lrAt(s, 50)).toBeCloseTo(1e-3, 12);
    expect(lrAt(s, 225)).toBeCloseTo(1e-4 + 0.5 * 0.9e-3, 12);
    expect(lrAt(s, 399)).toBeGreaterThan(1e-4);
    expect(lrAt(s, 399)).toBeLessThan(1.001e-4);
  });

  it('D2Z decays linearly to exactly zero at the last update', () => {
    const s: Schedule = { kind: 'd2z', lr: 3e-4, warmup: 10, total: 100 };
    expect(lrAt(s, 10)).toBe(3e-4);
    expect(lrAt(s, 99)).toBe(0);
    expect(lrAt(s, 98)).toBeGreaterThan(0);
    for (let i = 11; i < 100; i++) expect(lrAt(s, i)).toBeLessThan(lrAt(s, i - 1));
  });

  it('rejects impossible settings with the field named', () => {
    expect(() => validateSchedule({ kind: 'cosine', lr: 0, warmup: 0, total: 10 })).toThrow(
      /learning rate must be a positive number/,
    );
    expect(() => validateSchedule({ kind: 'd2z', lr: 1, warmup: 10, total: 10 })).toThrow(
      /warmup must be an integer from 0 to 9/,
    );
    expect(() => lrAt({ kind: 'd2z', lr: 1, warmup: 0, total: 10 }, 10)).toThrow(/outside the schedule/);
  });
});

describe('AdamW over parameter banks', () => {
  it('matches the f64 reference over 3 updates (clipping, decay on 2-D tensors only, several banks)', async () => {
    const gpu = await getGpu();
    const cfg = gpt2Config({ vocabSize: 37, positions: 16, width: 24, layers: 2, heads: 2 });
    const host = gpt2Init(cfg, 5);
    // Larger than GPT-2 init so gradients are big enough to be clipped on some updates.
    for (const [n, v] of host)
      if (!/ln_/.test(n))
        host.set(
          n,
          v.map((x, i) => x * 10 + ((i % 7) - 3) * 1e-3),
        );
    const saved = gpu.limits.maxStorageBufferBindingSize;
    // A small bank limit forces several banks, as a large model has.
    gpu.limits.maxStorageBufferBindingSize = 4 * 8192;
    const model = await Model.create(gpu, cfg, (n) => host.get(n)!);
    gpu.limits.maxStorageBufferBindingSize = saved!;
    expect(model.layout.bankSizes.length).toBeGreaterThan(1);
    const opt = new Optimizer(model);
    const ref = new Map([...host].map(([n, v]) => [n, Float64Array.from(v)]));
    const mom = new Map(
      [...host].map(([n, v]) => [n, { m: new Float64Array(v.length), v: new Float64Array(v.length) }]),
    );
    const rng = new Rng(3);
    const [B, T] = [2, 8];
    try {
      for (let step = 1; step <= 3; step++) {
        const tokens = Int32Array.from({ length: B * T }, () => rng.int(cfg.vocabSize));
        const targets = Int32Array.from({ length: B * T }, () => rng.int(cfg.vocabSize));
        opt.zeroGrad();
        const loss = model.loss(tokens, targets, B, T);
        backward(loss);
        loss.dispose();
        const lr = 1e-2 * step;
        const norm = opt.update(lr);
        // The gradients themselves are checked against the f64 graph reference by the self-checks; here the norm is
        // compared with it, and the optimizer reference consumes the GPU's own gradients: at entries whose gradient is
        // numerically zero (|g| ~ eps = 1e-8, e.g. the key bias, which softmax cancels) Adam's update depends on the
        // gradient's last bits, so f32 and f64 gradients would disagree there for reasons unrelated to the optimizer.
        const f64 = gpt2LossAndGradsRef(
          ref,
          { V: cfg.vocabSize, P: cfg.positions, C: cfg.width, L: cfg.layers, H: cfg.heads },
          tokens,
          targets,
          B,
          T,
        ).grads;
        const grads = await gpuGrads(model, ref.keys());
        const gn = globalL2(grads);
        const gotNorm = (await norm.readF32())[0]!;
        norm.dispose();
        expect(Math.abs(gotNorm - globalL2(f64)) / globalL2(f64), `step ${step} grad norm vs f64 graph`).toBeLessThan(
          1e-4,
        );
        for (const [name, p] of ref) {
          const st = mom.get(name)!;
          const wd = /weight$/.test(name) && !/ln_/.test(name) ? ADAMW_DEFAULTS.weightDecay : 0;
          adamwStepRef(
            p,
            grads.get(name)!,
            st.m,
            st.v,
            step,
            { lr, beta1: 0.9, beta2: 0.95, eps: 1e-8, wd, maxNorm: 1.0 },
            gn,
          );
        }
        for (const [name, p] of ref) {
          const got = await model.params.get(name)!.readF32();
          expect(worstOfTolerance(got, p), `step ${step} ${name}`).toBeLessThan(1);
        }
        console.log(
          `AdamW step ${step}: grad norm ${gotNorm.toFixed(4)} (f64 ${gn.toFixed(4)})${gn > 1 ? ', clipped to 1' : ''}`,
        );
      }
    } finally {
      opt.dispose();
      model.dispose();
    }
  });
});

describe('Muon (hidden matrices) + AdamW (the rest)', () => {
  it('matches the f64 references over 3 updates on a small GPT-2', async () => {
    const gpu = await getGpu();
    const cfg = gpt2Config({ vocabSize: 29, positions: 16, width: 16, layers: 2, heads: 2 });
    const host = gpt2Init(cfg, 9);
    const model = await Model.create(gpu, cfg, (n) => host.get(n)!);
    const opt = new Optimizer(model, optimizerConfig('muon', { muon: { weightDecay: 0.01 } }));
    const ref = new Map([...host].map(([n, v]) => [n, Float64Array.from(v)]));
    const state = new Map(
      [...host].map(([n, v]) => [n, { m: new Float64Array(v.length), v: new Float64Array(v.length) }]),
    );
    const rng = new Rng(4);
    const [B, T] = [2, 8];
    let muonCount = 0;
    try {
      for (let step = 1; step <= 3; step++) {
        const tokens = Int32Array.from({ length: B * T }, () => rng.int(cfg.vocabSize));
        const targets = Int32Array.from({ length: B * T }, () => rng.int(cfg.vocabSize));
        opt.zeroGrad();
        const loss = model.loss(tokens, targets, B, T);
        backward(loss);
        const [lr, muonLr] = [3e-3 * step, 0.02 / step];
        const norm = opt.update(lr, { muonLr, loss });
        loss.dispose();
        norm.dispose();
        // As for AdamW: the references consume the GPU's own gradients (see above for why).
        const grads = await gpuGrads(model, ref.keys());
        const gn = globalL2(grads);
        muonCount = 0;
        for (const [name, p] of ref) {
          const st = state.get(name)!;
          if (MUON_NAME.test(name)) {
            muonCount++;
            const [R, C] = model.params.get(name)!.shape as [number, number];
            const O = newtonSchulzRef(muonMomentumRef(grads.get(name)!, st.m, MUON_DEFAULTS.momentum), R, C);
            const k = Math.sqrt(Math.max(1, C / R)); // [in=R, out=C] stored: Muon's max(1, out/in)^0.5
            for (let i = 0; i < p.length; i++) p[i] = p[i]! * (1 - muonLr * 0.01) - muonLr * k * O[i]!;
          } else {
            const wd = /weight$/.test(name) && !/ln_/.test(name) ? ADAMW_DEFAULTS.weightDecay : 0;
            adamwStepRef(
              p,
              grads.get(name)!,
              st.m,
              st.v,
              step,
              { lr, beta1: 0.9, beta2: 0.95, eps: 1e-8, wd, maxNorm: 1.0 },
              gn,
            );
          }
        }
        let worstMuon = 0;
        for (const [name, p] of ref) {
          const worst = worstOfTolerance(await model.params.get(name)!.readF32(), p);
          if (MUON_NAME.test(name)) worstMuon = Math.max(worstMuon, worst);
          expect(worst, `step ${step} ${name}`).toBeLessThan(1);
        }
        console.log(
          `Muon step ${step}: grad norm ${gn.toFixed(4)}, worst Muon-matrix error ${worstMuon.toFixed(3)} of tolerance`,
        );
      }
      expect(muonCount).toBe(4 * cfg.layers);
    } finally {
      opt.dispose();
      model.dispose();
    }
  });
});

describe('Muon batches', () => {
  it('groups the hidden matrices by shape, under the scratch cap and the binding limit, each matrix once', () => {
    // GPT-2 124M's twelve blocks: c_attn 768×2304, c_proj 768×768, c_fc 768×3072, mlp c_proj 3072×768.
    const cfg = gpt2Config({ vocabSize: 50257, positions: 1024, width: 768, layers: 12, heads: 12 });
    const slots = paramLayout(paramSpecs(cfg), 2 ** 28).slots.filter(isMuonMatrix);
    expect(slots.every((s) => MUON_NAME.test(s.name))).toBe(true);
    expect(slots.length).toBe(48);
    for (const limit of [2 ** 27, 2 ** 24]) {
      const batches = muonBatches(slots, limit);
      expect(batches.flatMap((b) => b.slots.map((s) => s.name)).sort()).toEqual(slots.map((s) => s.name).sort());
      for (const b of batches) {
        for (const s of b.slots) expect(s.shape).toEqual([b.rows, b.cols]);
        expect(b.stride % 64).toBe(0);
        expect(b.stride).toBeGreaterThanOrEqual(b.rows * b.cols);
        if (b.slots.length > 1)
          expect(b.slots.length * b.stride * 4).toBeLessThanOrEqual(Math.min(32 * 2 ** 20, limit));
      }
      // Under 32 MiB: c_attn (6.75 MiB) 4 to a batch, attn c_proj (2.25 MiB) all 12, c_fc and mlp c_proj (9 MiB) 3.
      if (limit === 2 ** 27) expect(batches.map((b) => b.slots.length)).toEqual([4, 4, 4, 12, 3, 3, 3, 3, 3, 3, 3, 3]);
      // A 16 MiB binding limit: 2, 7 and 1 to a batch.
      if (limit === 2 ** 24)
        expect(batches.map((b) => b.slots.length)).toEqual([...Array(6).fill(2), 7, 5, ...Array(24).fill(1)]);
    }
  });
});

describe('the step guard', () => {
  it('skips an update whose loss is not finite, and every update after it', async () => {
    const gpu = await getGpu();
    const cfg = gpt2Config({ vocabSize: 19, positions: 8, width: 16, layers: 1, heads: 2 });
    const host = gpt2Init(cfg, 2);
    for (const kind of ['adamw', 'muon'] as const) {
      const model = await Model.create(gpu, cfg, (n) => host.get(n)!);
      const opt = new Optimizer(model, optimizerConfig(kind));
      const tokens = Int32Array.from({ length: 8 }, (_, i) => i % cfg.vocabSize);
      const run = async (poison: boolean) => {
        opt.zeroGrad();
        const loss = model.loss(tokens, tokens, 1, 8);
        backward(loss);
        if (poison) gpu.upload(loss.view, new Float32Array([NaN]));
        const norm = opt.update(1e-2, { loss });
        loss.dispose();
        const n = (await norm.readF32())[0]!;
        norm.dispose();
        return n;
      };
      try {
        expect(Number.isFinite(await run(false))).toBe(true);
        const before = await model.toHost();
        const moments = async () => Promise.all([...opt.m, ...opt.v].map((t) => t.readF32()));
        const momentsBefore = await moments();
        expect(await run(true), `${kind}: the poisoned step reports NaN`).toBeNaN();
        expect(await run(false), `${kind}: the guard is sticky`).toBeNaN();
        expect((await opt.halted.readF32())[0]).toBe(1);
        const after = await model.toHost();
        for (const [name, v] of before) expect(after.get(name), `${kind}: ${name} unchanged`).toEqual(v);
        expect(await moments(), `${kind}: optimizer moments unchanged`).toEqual(momentsBefore);
      } finally {
        opt.dispose();
        model.dispose();
      }
    }
  });
});

describe('growing in continue mode', () => {
  it("gives the new blocks fresh optimizer state: their update equals a new optimizer's, while the kept blocks continue", async () => {
    const gpu = await getGpu();
    const small = gpt2Config({ vocabSize: 23, positions: 8, width: 16, layers: 1, heads: 2 });
    const big = { ...small, layers: 2 };
    const tokens = Int32Array.from({ length: 16 }, (_, i) => (i * 7) % small.vocabSize);
    const step = (model: Model, opt: Optimizer) => {
      opt.zeroGrad();
      const loss = model.loss(tokens, tokens, 2, 8);
      backward(loss);
      loss.dispose();
      opt.update(1e-2).dispose();
    };
    for (const kind of ['adamw', 'muon'] as const) {
      const init = gpt2Init(big, 6);
      const trained = await Model.create(gpu, small, (n) => init.get(n)!);
      const before = new Optimizer(trained, optimizerConfig(kind));
      for (let i = 0; i < 3; i++) step(trained, before);
      // The grown model: the trained block 0 (and embeddings, ln_f) plus a new block 1.
      const kept = await trained.toHost();
      const grown = async () => Model.create(gpu, big, (n) => kept.get(n) ?? init.get(n)!);
      const [a, b] = [await grown(), await grown()];
      const continued = new Optimizer(a, optimizerConfig(kind));
      continued.inheritState(before);
      const fresh = new Optimizer(b, optimizerConfig(kind));
      try {
        expect(continued.step).toBe(3);
        expect(Object.keys(continued.born).every((n) => n.startsWith('h.1.'))).toBe(true);
        expect(Object.values(continued.born)).toEqual(Array(12).fill(3));
        step(a, continued);
        step(b, fresh);
        const [pa, pb] = [await a.toHost(), await b.toHost()];
        for (const [name, v] of pa) {
          if (name.startsWith('h.1.')) expect(v, `${kind}: new ${name}`).toEqual(pb.get(name));
        }
        // The kept tensors continue with their moments and count, so they move differently from a fresh start.
        expect(pa.get('h.0.attn.c_attn.bias')).not.toEqual(pb.get('h.0.attn.c_attn.bias'));
      } finally {
        for (const o of [before, continued, fresh]) o.dispose();
        for (const m of [trained, a, b]) m.dispose();
      }
    }
  });
});
