// f16-mixed training on tensor cores: with an f16 → f32 subgroup-matrix config (emulated here: the software adapter
// has none), every block product of the step and the head's three (forward, dX and dW) run on the tensor-core kernel,
// and the run trains as f16-mixed does on the f32 kernels.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { splitTokens } from '../../src/io/corpus';
import { acquireNodeDevice } from '../../src/gpu/node';
import { Gpu } from '../../src/gpu/runtime';
import { gpt2Config } from '../../src/model/gpt2/config';
import { gpt2Init } from '../../src/model/gpt2/params';
import { Model } from '../../src/model/model';
import { optimizerConfig } from '../../src/optim/optimizer';
import { type StepMetrics, Trainer, type TrainSettings } from '../../src/train/trainer';
import { roundToHalf } from '../../src/util/half';

const text = readFileSync(new URL('../../../shared/data/tinyshakespeare.txt', import.meta.url), 'utf8').slice(
  0,
  20_000,
);
/**
 * Characters as tokens, folded into 100 ids: a vocabulary the head can afford on a software adapter, and not whole
 * 64-row tiles (f16-mixed's head pads its f16 copy to 128 rows; w's gradient is the first 100 of them).
 */
const data = { ...splitTokens(Uint32Array.from(text, (ch) => ch.charCodeAt(0) % 100)), V: 100 };
// Width 64 and 4·16 rows per micro-batch: every block product's M, N and K are whole 64 × 64 tiles and K steps.
const cfg = gpt2Config({ vocabSize: data.V, positions: 32, width: 64, layers: 2, heads: 2 });
const settings: TrainSettings = {
  batch: 4,
  ctx: 16,
  accum: 1,
  steps: 4,
  evalEvery: 0,
  evalWindows: 4,
  seed: 3,
  schedule: { kind: 'cosine', lr: 3e-3, warmup: 1, minLr: 3e-4 },
  optimizer: optimizerConfig('adamw'),
  precision: 'f16-mixed',
};

async function train(gpu: Gpu) {
  const host = gpt2Init(cfg, 1);
  const model = await Model.create(gpu, cfg, (n) => host.get(n)!);
  const trainer = new Trainer(model, data, settings);
  const steps: StepMetrics[] = [];
  const before = sgmatDispatches(gpu);
  try {
    const out = await trainer.run((e) => e.type === 'step' && steps.push(e));
    expect(out.status).toBe('done');
    // The head's padded f16 copy followed the updates: the trained master rounded, zero rows past V.
    const copy = await model.paddedHalfHead!.readF32();
    const master = await model.params.get('wte.weight')!.readF32();
    expect(copy.length).toBe(128 * cfg.width);
    expect(copy.subarray(0, master.length)).toEqual(roundToHalf(master));
    expect(copy.subarray(master.length).every((v) => v === 0)).toBe(true);
    return { steps, valLoss: out.valLoss!, sgmat: sgmatDispatches(gpu) - before };
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

const sgmatDispatches = (gpu: Gpu) =>
  [...gpu.dispatchesByKernel].filter(([k]) => k.startsWith('matmul_sgmat')).reduce((a, [, n]) => a + n, 0);

describe('f16-mixed training on tensor cores (emulated config)', () => {
  it('runs every block product on the tensor-core kernel and trains like the f32 kernels on the same halves', async () => {
    const plain = new Gpu(await acquireNodeDevice());
    const tc = new Gpu(await acquireNodeDevice(), { emulateTensorCores: { M: 8, N: 8, K: 8 } });
    try {
      const onF32 = await train(plain);
      const onTc = await train(tc);
      expect(onF32.sgmat).toBe(0);
      // Per block and update: 4 forward products (qkv, attention out, MLP in and out), their 4 dX and 4 dW; and the
      // tied head's logits, dX and dW on its padded f16 copy (64 rows: one chunk).
      expect(onTc.sgmat).toBe(settings.steps * (cfg.layers * 12 + 3));
      const gap = Math.max(...onTc.steps.map((s, i) => Math.abs(s.loss - onF32.steps[i]!.loss)));
      console.log(
        `f16-mixed, tensor cores (emulated) vs f32 kernels over ${settings.steps} updates: largest train-loss gap ` +
          `${gap.toExponential(2)}; val loss ${onTc.valLoss.toFixed(5)} vs ${onF32.valLoss.toFixed(5)}`,
      );
      expect(onTc.steps.every((s) => !s.skipped)).toBe(true);
      // The emulated calls add each output's K products in order with fma from zero, as the f32 kernels do, so here
      // (no product is split along K at these shapes) the two runs agree bit for bit; on a GPU the hardware's order
      // differs and the runs agree to f32 rounding.
      expect(gap).toBe(0);
      expect(onTc.valLoss).toBe(onF32.valLoss);
    } finally {
      plain.destroy();
      tc.destroy();
    }
  });
});
