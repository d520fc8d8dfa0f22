// The UI's run form → the pipeline's InherituneSettings, with every check a user can fail named in words (the worker
// re-checks what the UI already validated: it is the last line before the GPU).

import { maxWindows } from '../io/corpus';
import { inheritNProblem } from '../inheritune/plan';
import type { InherituneSettings } from '../inheritune/pipeline';
import type { Gpt2Config } from '../model/config';
import { optimizerConfig } from '../optim/optimizer';
import { batchFitProblem, type BufferLimits } from '../train/fit';
import type { DemoSettings, RunSettings } from './protocol';

function int(name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new Error(
      `${name} must be a whole number ${max < Number.MAX_SAFE_INTEGER ? `from ${min} to ${max}` : `≥ ${min}`}, got ${Number.isFinite(v) ? v : 'nothing'}`,
    );
  }
}

function positive(name: string, v: number): void {
  if (!(v > 0) || !Number.isFinite(v))
    throw new Error(`${name} must be a positive number, got ${Number.isFinite(v) ? v : 'nothing'}`);
}

/** Checks the form against the reference and the corpus; returns what the pipeline runs. */
export function inherituneSettings(
  s: RunSettings,
  ref: Gpt2Config,
  valTokens: number,
  limits: BufferLimits,
): InherituneSettings {
  const nProblem = inheritNProblem(s.n, ref.nLayer);
  if (nProblem) throw new Error(`n (blocks inherited) ${nProblem}`);
  int('steps per round', s.stepsPerRound, 1);
  if (s.grow !== 'restart' && s.grow !== 'continue')
    throw new Error(`grow mode must be restart or continue, got ${String(s.grow)}`);
  if (s.optimizer !== 'adamw' && s.optimizer !== 'muon')
    throw new Error(`optimizer must be AdamW or Muon, got ${String(s.optimizer)}`);
  if (s.schedule !== 'cosine' && s.schedule !== 'd2z')
    throw new Error(`schedule must be cosine or D2Z, got ${String(s.schedule)}`);
  positive('learning rate', s.lr);
  if (s.optimizer === 'muon') positive('Muon learning rate', s.muonLr);
  int('warmup', s.warmup, 0, s.stepsPerRound - 1);
  int('batch', s.batch, 1);
  int('context', s.ctx, 1, ref.nPositions);
  const fit = batchFitProblem(ref, s.batch, s.ctx, limits);
  if (fit) throw new Error(fit);
  int('accumulation', s.accum, 1, 4096);
  int('eval every', s.evalEvery, 0);
  const windows = maxWindows(valTokens, s.ctx);
  if (windows < 1)
    throw new Error(
      `the corpus is too short: its validation split (last 10%) has ${valTokens} tokens; one window of ${s.ctx} tokens needs ${s.ctx + 1}`,
    );
  int(`validation windows (${windows} of ${s.ctx} tokens fit in the validation split)`, s.evalWindows, 1, windows);
  int('seed', s.seed, 0, 2 ** 31 - 1);
  int('checkpoint every', s.checkpointEvery, 0);
  if (s.peakTflops !== null) positive('peak TFLOP/s', s.peakTflops);
  return {
    n: s.n,
    stepsPerRound: s.stepsPerRound,
    grow: s.grow,
    paperCode: s.paperCode,
    baseline: s.baseline,
    initSeed: s.seed,
    checkpointEvery: s.checkpointEvery,
    train: {
      batch: s.batch,
      ctx: s.ctx,
      accum: s.accum,
      evalEvery: s.evalEvery,
      evalWindows: s.evalWindows,
      seed: s.seed,
      ...(s.halfActivations ? { halfActivations: true } : {}),
      schedule: { kind: s.schedule, lr: s.lr, warmup: s.warmup, minLr: s.lr / 10 },
      optimizer: optimizerConfig(s.optimizer, s.optimizer === 'muon' ? { muon: { lr: s.muonLr } } : {}),
    },
  };
}

/** The demo reference's config; its positions cover both the demo's and the run's context. */
export function demoConfig(d: DemoSettings, runCtx: number, vocab: number, limits: BufferLimits): Gpt2Config {
  int('demo layers', d.layers, 2, 48);
  int('demo width', d.width, 1, 4096);
  int('demo heads', d.heads, 1, d.width);
  if (d.width % d.heads) throw new Error(`demo width ${d.width} must be divisible by its heads ${d.heads}`);
  int('demo steps', d.steps, 1);
  int('demo batch', d.batch, 1);
  int('demo context', d.ctx, 1, 4096);
  const fit = batchFitProblem({ nEmbd: d.width }, d.batch, d.ctx, limits);
  if (fit) throw new Error(`demo ${fit}`);
  positive('demo learning rate', d.lr);
  return { vocabSize: vocab, nPositions: Math.max(d.ctx, runCtx), nEmbd: d.width, nLayer: d.layers, nHead: d.heads };
}
