// Training through the public API on the software adapter: a tiny GPT-2 learns Shakespeare from scratch; a run
// interrupted by a snapshot and resumed in a fresh trainer reproduces the uninterrupted run's losses bit for bit; a
// non-finite step halts the run with the parameters untouched.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { splitTokens } from '../../src/io/corpus';
import { writeSafetensors } from '../../src/io/safetensors-write';
import { encodeGpt2 } from '../../src/io/tokenizer';
import { type Gpt2Config, gpt2Config } from '../../src/model/gpt2/config';
import { Model } from '../../src/model/model';
import { gpt2Init } from '../../src/model/gpt2/params';
import { optimizerConfig, type OptimizerKind } from '../../src/optim/optimizer';
import { directoryStore } from '../../src/train/node-store';
import { snapshotPrecision } from '../../src/cli/settings';
import { memoryStore } from '../../src/train/memory-store';
import { openSnapshot, restoreTrainer, saveSnapshot, SNAPSHOT_FILE } from '../../src/train/snapshot';
import { lossScaleConfig } from '../../src/optim/loss-scale';
import { roundToHalf } from '../../src/util/half';
import { Trainer, type StepMetrics, type TrainEvent, type TrainSettings } from '../../src/train/trainer';
import { getGpu } from './gpu';

const text = readFileSync(new URL('../../../shared/data/tinyshakespeare.txt', import.meta.url), 'utf8').slice(
  0,
  60_000,
);

/**
 * GPT-2 BPE tokens of the first 60k characters, with the 255 most frequent ids renumbered 0…254 and every other id
 * mapped to 255: a 256-token vocabulary keeps the head cheap enough for a software adapter.
 */
async function compactCorpus(): Promise<{ train: Uint32Array; val: Uint32Array; V: number }> {
  const ids = await encodeGpt2(text);
  const counts = new Map<number, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  const top = [...counts]
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, 255)
    .map(([id]) => id);
  const map = new Map(top.map((id, i) => [id, i]));
  const compact = Uint32Array.from(ids, (id) => map.get(id) ?? 255);
  return { ...splitTokens(compact), V: 256 };
}

const tiny = (V: number): Gpt2Config => gpt2Config({ vocabSize: V, positions: 32, width: 32, layers: 2, heads: 2 });

function settings(kind: OptimizerKind, over: Partial<TrainSettings> = {}): TrainSettings {
  return {
    batch: 8,
    ctx: 32,
    accum: 1,
    steps: 60,
    evalEvery: 0,
    evalWindows: 8,
    seed: 7,
    schedule: { kind: 'cosine', lr: 1e-2, warmup: 5, minLr: 1e-3 },
    optimizer: optimizerConfig(kind),
    ...over,
  };
}

async function newModel(cfg: Gpt2Config, seed = 1) {
  const host = gpt2Init(cfg, seed);
  return Model.create(await getGpu(), cfg, (n) => host.get(n)!);
}

describe('training a tiny GPT-2 from scratch', () => {
  it('drives the loss well below ln(V) (AdamW, cosine)', { timeout: 400_000 }, async () => {
    const gpu = await getGpu();
    const data = await compactCorpus();
    const model = await newModel(tiny(data.V));
    const trainer = new Trainer(model, data, settings('adamw'));
    const events: TrainEvent[] = [];
    const submits0 = gpu.submitCount;
    try {
      const out = await trainer.run((e) => events.push(e));
      const steps = events.filter((e): e is StepMetrics => e.type === 'step');
      expect(out.status).toBe('done');
      expect(steps.map((s) => s.step)).toEqual(Array.from({ length: 60 }, (_, i) => i));
      const lnV = Math.log(data.V);
      const first = steps[0]!.loss;
      const last = steps.slice(-5).reduce((a, s) => a + s.loss, 0) / 5;
      console.log(
        `ln V = ${lnV.toFixed(3)}; train loss ${first.toFixed(3)} → ${last.toFixed(3)} (mean of last 5); val loss ${out.valLoss!.toFixed(3)}; ` +
          `${((gpu.submitCount - submits0) / 60).toFixed(1)} submits/update; ${steps.at(-1)!.tokensPerSec.toFixed(0)} tokens/s (software adapter)`,
      );
      expect(Math.abs(first - lnV)).toBeLessThan(0.3);
      expect(last).toBeLessThan(0.75 * lnV);
      expect(out.valLoss!).toBeLessThan(0.8 * lnV);
      for (const s of steps) expect(Number.isFinite(s.gradNorm) && s.lr > 0 && s.tokensPerSec > 0).toBe(true);
      expect(steps.at(-1)!.mfu).toBeNull(); // no peak given: MFU unknown, not guessed
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });
});

describe('snapshot and resume', () => {
  for (const [kind, half, scaled, mixed] of [
    ['adamw', false, false, false],
    ['muon', false, false, false],
    ['adamw', true, false, false],
    ['adamw', false, true, false],
    ['muon', false, false, true],
  ] as const) {
    it(`resumes bit for bit: 3 + 3 updates equal 6 uninterrupted (${kind}, 2 micro-batches${half ? ', f16 activations' : ''}${scaled ? ', dynamic loss scaling' : ''}${mixed ? ', f16-mixed' : ''})`, async () => {
      const gpu = await getGpu();
      const data = await compactCorpus();
      const cfg = gpt2Config({ vocabSize: data.V, positions: 32, width: 16, layers: 2, heads: 2 });
      const s = {
        ...settings(kind, {
          steps: 6,
          accum: 2,
          batch: 2,
          ctx: 16,
          evalEvery: 3,
          evalWindows: 2,
          schedule: { kind: 'd2z', lr: 5e-3, warmup: 1 },
        }),
        halfActivations: half,
        // The scale doubles every 2 clean updates: the resumed run must carry its count and scale over. (f16-mixed
        // brings its own scaler: its f16 weight copies must come back from the restored masters.)
        lossScale: scaled ? { init: 2 ** 4, interval: 2 } : null,
        precision: mixed ? ('f16-mixed' as const) : ('fp32' as const),
      };
      const lossesOf = (ev: TrainEvent[]) =>
        ev.flatMap((e) =>
          e.type === 'step'
            ? [e.loss, ...(scaled || mixed ? [e.lossScale!] : [])]
            : e.type === 'eval'
              ? [e.valLoss]
              : [],
        );

      const model = await newModel(cfg);
      const whole = new Trainer(model, data, s);
      const ref: TrainEvent[] = [];
      await whole.run((e) => ref.push(e));
      const refParams = await model.toHost();
      whole.dispose();
      model.dispose();

      const dir = mkdtempSync(join(tmpdir(), 'inheritune-snap-'));
      try {
        const m1 = await newModel(cfg);
        const first = new Trainer(m1, data, s);
        const got: TrainEvent[] = [];
        expect((await first.run((e) => got.push(e), { until: 3 })).status).toBe('stopped');
        await saveSnapshot(directoryStore(dir), first, { note: 'test' });
        first.dispose();
        m1.dispose();

        // The CLI's --resume measures MFU at the snapshot's precision, read before the trainer is restored.
        expect(await snapshotPrecision(directoryStore(dir))).toBe(mixed ? 'f16-mixed' : 'fp32');
        const snap = (await openSnapshot<{ note: string }>(directoryStore(dir)))!;
        expect(snap.meta.extra.note).toBe('test');
        expect(snap.meta.position.step).toBe(3);
        const second = await restoreTrainer(gpu, snap, data, null);
        await snap.close();
        expect(second.settings.halfActivations).toBe(half); // the snapshot carries it
        expect(second.mixed).toBe(mixed); // and the precision
        expect((await second.run((e) => got.push(e))).status).toBe('done');
        expect(lossesOf(got)).toEqual(lossesOf(ref));
        const params = await second.model.toHost();
        for (const [name, v] of refParams) expect(params.get(name), name).toEqual(v);
        console.log(
          `${kind}${half ? ' f16' : ''}: ${lossesOf(ref).length} losses identical across the snapshot: ${lossesOf(ref)
            .map((l) => l.toFixed(4))
            .join(' ')}`,
        );
        second.dispose();
        second.model.dispose();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('rejects a file that is not a snapshot with a specific message', async () => {
    const store = {
      write: async () => undefined,
      open: async () => ({ size: 4, read: async () => new Uint8Array(4) }),
    };
    await expect(openSnapshot(store)).rejects.toThrow(/state\.safetensors/);
    // A valid safetensors file without our metadata, and one of a future snapshot version.
    const other = memoryStore();
    await other.write(
      SNAPSHOT_FILE,
      writeSafetensors([{ name: 'x', shape: [1], data: new Float32Array(1) }], { format: 'pt' }),
    );
    await expect(openSnapshot(other)).rejects.toThrow(/not an Inheritune training snapshot/);
    await other.write(
      SNAPSHOT_FILE,
      writeSafetensors([{ name: 'x', shape: [1], data: new Float32Array(1) }], {
        inheritune: JSON.stringify({ format: 'inheritune-state', version: 99 }),
      }),
    );
    await expect(openSnapshot(other)).rejects.toThrow(/snapshot version 99/);
    // Unreadable or absent: fp32 for the start line's peak; the resume itself then stops with the reason.
    expect(await snapshotPrecision(other)).toBe('fp32');
    expect(await snapshotPrecision(memoryStore())).toBe('fp32');
  });
});

describe('dynamic loss scaling', () => {
  const small = (kind: OptimizerKind, over: Partial<TrainSettings> = {}) =>
    settings(kind, { steps: 6, accum: 2, batch: 2, ctx: 16, schedule: { kind: 'd2z', lr: 5e-3, warmup: 1 }, ...over });

  for (const kind of ['adamw', 'muon'] as const)
    it(`changes no bit of an f32 run while nothing overflows; the scale doubles every 2 clean updates (${kind})`, async () => {
      const data = await compactCorpus();
      const cfg = gpt2Config({ vocabSize: data.V, positions: 32, width: 16, layers: 2, heads: 2 });
      const runOf = async (lossScale: TrainSettings['lossScale']) => {
        const model = await newModel(cfg);
        const trainer = new Trainer(model, data, small(kind, { lossScale }));
        const steps: StepMetrics[] = [];
        await trainer.run((e) => e.type === 'step' && steps.push(e));
        const params = await model.toHost();
        trainer.dispose();
        model.dispose();
        return { steps, params };
      };
      const plain = await runOf(null);
      const scaled = await runOf({ init: 2 ** 12, interval: 2 });
      expect(scaled.steps.map((s) => s.loss)).toEqual(plain.steps.map((s) => s.loss));
      expect(scaled.steps.map((s) => s.gradNorm)).toEqual(plain.steps.map((s) => s.gradNorm)); // the true norm
      expect(scaled.steps.map((s) => s.lossScale)).toEqual([12, 13, 13, 14, 14, 15].map((k) => 2 ** k));
      expect(scaled.steps.every((s) => s.skipped === false)).toBe(true);
      for (const [name, v] of plain.params) expect(scaled.params.get(name), name).toEqual(v);
    });

  it('skips the updates whose gradients overflow, halving the scale, then trains on; the parameters stay put', async () => {
    const data = await compactCorpus();
    const cfg = gpt2Config({ vocabSize: data.V, positions: 32, width: 16, layers: 2, heads: 2 });
    const model = await newModel(cfg);
    const initial = await model.toHost();
    // 2^75 times these gradients overflows f32 (their squares sooner): the first updates must be skipped.
    const trainer = new Trainer(
      model,
      data,
      small('adamw', { steps: 20, lossScale: { init: 2 ** 75, max: 2 ** 75, interval: 1000 } }),
    );
    try {
      const steps: StepMetrics[] = [];
      await trainer.run((e) => e.type === 'step' && steps.push(e), { until: 1 });
      expect(steps[0]).toMatchObject({ skipped: true, lossScale: 2 ** 74 });
      expect(Number.isFinite(steps[0]!.loss)).toBe(true); // the forward was fine
      const after = await model.toHost();
      for (const [name, v] of initial) expect(after.get(name), name).toEqual(v); // nothing moved
      const out = await trainer.run((e) => e.type === 'step' && steps.push(e));
      expect(out.status).toBe('done');
      const skipped = steps.filter((s) => s.skipped).length;
      // Each skipped update halved the scale; a clean one kept it (the interval is never reached). Skips come first
      // (training may overflow again later near the edge, which the same rule covers).
      const scales = steps.map((s) => s.lossScale);
      expect(scales).toEqual(steps.map((_, i) => 2 ** (75 - steps.slice(0, i + 1).filter((s) => s.skipped).length)));
      expect(steps.slice(0, 5).every((s) => s.skipped)).toBe(true);
      expect(steps.filter((s) => !s.skipped).every((s) => Number.isFinite(s.gradNorm))).toBe(true);
      expect(skipped).toBeLessThan(16);
      const lastSkip = steps.map((s) => s.skipped).lastIndexOf(true);
      expect(trainer.savedPosition().lossScale).toEqual({ scale: 2 ** (75 - skipped), clean: 19 - lastSkip, skipped });
      expect(steps.at(-1)!.loss).toBeLessThan(steps[0]!.loss);
      console.log(`loss scale 2^75: ${skipped} updates skipped, trained on at 2^${75 - skipped}`);
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  it('halts, naming the scale, when gradients overflow at the smallest scale', async () => {
    const data = await compactCorpus();
    const cfg = gpt2Config({ vocabSize: data.V, positions: 32, width: 16, layers: 2, heads: 2 });
    const model = await newModel(cfg);
    const big = { init: 2 ** 127, min: 2 ** 127, max: 2 ** 127, interval: 10 };
    const trainer = new Trainer(model, data, small('adamw', { lossScale: big }));
    try {
      const events: TrainEvent[] = [];
      const out = await trainer.run((e) => events.push(e));
      expect(out).toMatchObject({ status: 'halted', step: 0 });
      const halt = events.find((e) => e.type === 'halt');
      expect(halt && halt.type === 'halt' && halt.reason).toMatch(
        /^step 1: gradient norm NaN with the loss scale at its minimum, 2\^127; the update was not applied/,
      );
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  it('refuses a bad configuration, naming the field', () => {
    expect(() => lossScaleConfig({ init: 1000, interval: 10 })).toThrow(/loss scale init must be a power of two/);
    expect(() => lossScaleConfig({ init: 4, interval: 0 })).toThrow(/loss scale interval must be a whole number/);
    expect(() => lossScaleConfig({ init: 4, interval: 5, min: 8 })).toThrow(/need min ≤ init ≤ max/);
    expect(lossScaleConfig({ init: 2 ** 16, interval: 2000 })).toEqual({
      init: 65536,
      interval: 2000,
      min: 1,
      max: 2 ** 24,
    });
  });
});

describe('f16-mixed precision', () => {
  const mixedSettings = (kind: OptimizerKind, over: Partial<TrainSettings> = {}) =>
    settings(kind, { steps: 10, batch: 4, ctx: 16, precision: 'f16-mixed', ...over });
  const cfgOf = (V: number) => gpt2Config({ vocabSize: V, positions: 32, width: 16, layers: 2, heads: 2 });
  /** Every f16 weight copy equals its master rounded to halves (the optimizer keeps them current). */
  async function expectCopiesCurrent(model: Model): Promise<void> {
    expect(model.halfBanks?.length).toBe(model.banks.length);
    for (const [i, h] of model.halfBanks!.entries())
      expect(await h.readF32(), `bank ${i}`).toEqual(roundToHalf(await model.banks[i]!.readF32()));
  }

  for (const kind of ['adamw', 'muon'] as const)
    it(`trains like fp32 on f16 weight copies and activations, loss scaled from 2^16 (${kind})`, async () => {
      const data = await compactCorpus();
      const runOf = async (precision: 'fp32' | 'f16-mixed') => {
        const model = await newModel(cfgOf(data.V));
        const trainer = new Trainer(model, data, mixedSettings(kind, { precision }));
        const steps: StepMetrics[] = [];
        try {
          const out = await trainer.run((e) => e.type === 'step' && steps.push(e));
          expect(out.status).toBe('done');
          if (precision === 'f16-mixed') await expectCopiesCurrent(model);
          else expect(model.halfBanks).toBeNull(); // fp32 allocates no copies
          return { steps, valLoss: out.valLoss! };
        } finally {
          trainer.dispose();
          model.dispose();
        }
      };
      const fp32 = await runOf('fp32');
      const mixed = await runOf('f16-mixed');
      const gap = Math.max(...mixed.steps.map((s, i) => Math.abs(s.loss - fp32.steps[i]!.loss)));
      console.log(
        `${kind}: f16-mixed vs fp32 over 10 updates: largest train-loss gap ${gap.toExponential(2)}; val loss ` +
          `${mixed.valLoss.toFixed(4)} vs ${fp32.valLoss.toFixed(4)}`,
      );
      expect(mixed.steps.every((s) => !s.skipped && s.lossScale === 2 ** 16)).toBe(true); // MIXED_LOSS_SCALE
      expect(fp32.steps.every((s) => s.lossScale === undefined)).toBe(true);
      // The products really ran on halves (the losses differ from the second update on), and stay close.
      expect(mixed.steps[0]!.loss).toBeCloseTo(fp32.steps[0]!.loss, 2);
      expect(gap).toBeGreaterThan(0);
      expect(gap).toBeLessThan(0.02);
      expect(Math.abs(mixed.valLoss - fp32.valLoss)).toBeLessThan(0.02);
    });

  it('skips an update whose f16 output gradients overflow (a scale fp32 takes), halving the scale; nothing moves', async () => {
    const data = await compactCorpus();
    // 2^26 times these gradients is far from f32's range but past f16's 65504 once rounded to halves.
    const lossScale = { init: 2 ** 26, max: 2 ** 26, interval: 1000 };
    const runOf = async (precision: 'fp32' | 'f16-mixed') => {
      const model = await newModel(cfgOf(data.V));
      const initial = await model.toHost();
      const trainer = new Trainer(model, data, mixedSettings('adamw', { precision, lossScale, steps: 16 }));
      const steps: StepMetrics[] = [];
      try {
        await trainer.run((e) => e.type === 'step' && steps.push(e), { until: 1 });
        const after = await model.toHost();
        const untouched = [...initial].every(([name, v]) => after.get(name)!.every((x, i) => x === v[i]));
        if (precision === 'f16-mixed') await expectCopiesCurrent(model);
        const out = await trainer.run((e) => e.type === 'step' && steps.push(e));
        expect(out.status).toBe('done');
        if (precision === 'f16-mixed') await expectCopiesCurrent(model);
        return { steps, untouched };
      } finally {
        trainer.dispose();
        model.dispose();
      }
    };
    const fp32 = await runOf('fp32');
    expect(fp32.steps.every((s) => !s.skipped)).toBe(true);
    expect(fp32.untouched).toBe(false);
    const mixed = await runOf('f16-mixed');
    expect(mixed.steps[0]).toMatchObject({ skipped: true, lossScale: 2 ** 25 });
    expect(mixed.untouched).toBe(true);
    const skipped = mixed.steps.filter((s) => s.skipped).length;
    // Each skip halved the scale, a clean update kept it (the interval is never reached); the skips come first (the
    // edge may be met again later, under the same rule), and a clean update has a finite gradient norm.
    const scales = mixed.steps.map((s) => s.lossScale);
    expect(scales).toEqual(
      mixed.steps.map((_, i) => 2 ** (26 - mixed.steps.slice(0, i + 1).filter((s) => s.skipped).length)),
    );
    expect(mixed.steps.filter((s) => !s.skipped).every((s) => Number.isFinite(s.gradNorm))).toBe(true);
    expect(mixed.steps.at(-1)!.skipped).toBe(false);
    expect(mixed.steps.at(-1)!.lossScale).toBe(2 ** (26 - skipped));
    expect(skipped).toBeLessThan(16);
    console.log(
      `f16-mixed at 2^26: ${skipped} updates skipped (${mixed.steps.map((s) => (s.skipped ? 'x' : '.')).join('')}), trained on at 2^${26 - skipped}; fp32 skipped none`,
    );
  });
});

describe('a non-finite step', () => {
  it('halts the run, names the step, and leaves the parameters as they were', async () => {
    const data = await compactCorpus();
    const cfg = gpt2Config({ vocabSize: data.V, positions: 32, width: 16, layers: 2, heads: 2 });
    const model = await newModel(cfg);
    const trainer = new Trainer(model, data, settings('adamw', { steps: 10, batch: 2, ctx: 16 }));
    try {
      await trainer.run(() => undefined, { until: 2 });
      const before = await model.toHost();
      const p = model.params.get('h.0.ln_1.weight')!;
      const poisoned = before.get('h.0.ln_1.weight')!.slice();
      poisoned[3] = NaN;
      model.gpu.upload(p.view, poisoned);
      const events: TrainEvent[] = [];
      const out = await trainer.run((e) => events.push(e));
      expect(out.status).toBe('halted');
      expect(out.step).toBe(2);
      const halt = events.find((e) => e.type === 'halt');
      expect(halt && halt.type === 'halt' && halt.reason).toMatch(/^step 3: loss NaN; the update was not applied/);
      expect(events.filter((e) => e.type === 'step')).toHaveLength(0);
      const after = await model.toHost();
      for (const [name, v] of before) if (name !== 'h.0.ln_1.weight') expect(after.get(name), name).toEqual(v);
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });
});
