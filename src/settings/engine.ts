// Checked settings → what the engine runs: the pipeline's InherituneSettings and the trainer's TrainSettings. Not for
// the page (it pulls in the optimizer's GPU code); the worker and the CLI call it after the schema has passed.

import { BASELINE_KINDS, distills } from '../inheritune/baseline-kinds';
import type { InherituneSettings } from '../inheritune/rounds';
import { optimizerConfig } from '../optim/optimizer';
import type { TrainSettings } from '../train/trainer';
import type { DemoSettings } from './demo';
import type { RunSettings, TrainingSettings } from './schema';

export function trainSettings(t: TrainingSettings, steps: number): TrainSettings {
  return {
    batch: t.batch,
    ctx: t.ctx,
    accum: t.accum,
    steps,
    evalEvery: t.evalEvery,
    evalWindows: t.evalWindows,
    seed: t.seed,
    ...(t.halfActivations ? { halfActivations: true } : {}),
    ...(t.precision === 'f16-mixed' ? { precision: 'f16-mixed' as const } : {}),
    schedule: { kind: t.schedule, lr: t.lr, warmup: t.warmup, minLr: t.minLr ?? t.lr / 10 },
    optimizer: optimizerConfig(t.optimizer, t.optimizer === 'muon' ? { muon: { lr: t.muonLr } } : {}),
  };
}

export function inherituneSettings(s: RunSettings): InherituneSettings {
  const { steps: _, ...train } = trainSettings(s, s.stepsPerRound);
  return {
    n: s.n,
    stepsPerRound: s.stepsPerRound,
    grow: s.grow,
    paperCode: s.paperCode,
    compare: BASELINE_KINDS.filter((k) => s.compare.includes(k)),
    ...(s.inherit !== 'all' ? { inherit: s.inherit, inheritNorms: s.inheritNorms } : {}),
    ...(distills(s.compare) ? { kd: { alpha: s.kdAlpha, tau: s.kdTau, beta: s.kdBeta } } : {}),
    initSeed: s.seed,
    checkpointEvery: s.checkpointEvery,
    train,
  };
}

/** How the demo's reference trains: AdamW, cosine with a short warmup, four evaluations, its own batch seed. */
export function demoTrainSettings(d: DemoSettings, evalWindows: number): TrainSettings {
  return {
    batch: d.batch,
    ctx: d.ctx,
    accum: 1,
    steps: d.steps,
    seed: 7,
    evalWindows,
    evalEvery: Math.max(1, Math.ceil(d.steps / 4)),
    schedule: { kind: 'cosine', lr: d.lr, warmup: Math.min(Math.floor(d.steps / 10), 50), minLr: d.lr / 10 },
    optimizer: optimizerConfig('adamw'),
  };
}
