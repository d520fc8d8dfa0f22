// Client-side checks of the run form and the demo form: each field's reason in words, shown beside the field, and
// Start/Demo disabled while any is set. The worker validates again; these exist so a mistake is seen before a click.

import { inheritNProblem } from '../inheritune/plan';
import { batchFitProblem, type BufferLimits } from '../train/fit';
import type { CorpusInfo, DemoSettings, RunSettings } from '../worker/protocol';

export type Errors<T> = Partial<Record<keyof T, string>>;

/** What the checked model and data allow; absent when not loaded yet (then only the field's own rule applies). */
export interface Limits {
  layers?: number;
  positions?: number;
  corpus?: Pick<CorpusInfo, 'train' | 'val'> | null;
  /** The model's width (for the buffer-limit check) and the adapter's limits; absent until known. */
  width?: number;
  buffers?: BufferLimits | null;
  /** Names the model in messages: "the reference", "the demo reference". */
  model: string;
}

function int(v: number, min: number): string | undefined {
  if (!Number.isFinite(v)) return 'must be a number';
  if (!Number.isInteger(v)) return 'must be a whole number';
  if (v < min) return `must be ≥ ${min}`;
  return undefined;
}

function positive(v: number): string | undefined {
  if (!Number.isFinite(v)) return 'must be a number';
  if (v <= 0) return 'must be > 0';
  return undefined;
}

export function validateSettings(s: RunSettings, lim: Limits): Errors<RunSettings> {
  const e: Errors<RunSettings> = {};
  e.n = int(s.n, 1) ?? (lim.layers !== undefined ? nProblem(s.n, lim.layers, lim.model) : undefined);
  e.stepsPerRound = int(s.stepsPerRound, 1);
  e.lr = positive(s.lr);
  if (s.optimizer === 'muon') e.muonLr = positive(s.muonLr);
  e.warmup = int(s.warmup, 0) ?? (s.warmup >= s.stepsPerRound ? 'must be shorter than a round' : undefined);
  e.batch = int(s.batch, 1);
  e.ctx =
    int(s.ctx, 1) ??
    (lim.positions !== undefined && s.ctx > lim.positions
      ? `at most ${lim.model}'s ${lim.positions} positions`
      : undefined);
  e.accum = int(s.accum, 1);
  if (!e.batch && !e.ctx && lim.width !== undefined && lim.buffers) {
    const fit = batchFitProblem({ nEmbd: lim.width }, s.batch, s.ctx, lim.buffers);
    if (fit) e.batch = fit;
  }
  e.evalEvery = int(s.evalEvery, 0);
  e.evalWindows = int(s.evalWindows, 1);
  e.seed = int(s.seed, 0);
  e.checkpointEvery = int(s.checkpointEvery, 0);
  if (s.peakTflops !== null) e.peakTflops = positive(s.peakTflops);
  // The data must hold what one update and one evaluation read (DESIGN.md "Validation loss": W windows of ctx+1).
  const c = lim.corpus;
  if (c && !e.ctx && !e.evalWindows && s.evalWindows * s.ctx + 1 > c.val) {
    e.evalWindows = `the validation split (${c.val.toLocaleString('en-US')} tokens) holds at most ${Math.max(0, Math.floor((c.val - 1) / s.ctx))} windows of ${s.ctx}`;
  }
  if (c && !e.ctx && !e.batch && s.ctx + 1 > c.train) e.ctx = `longer than the training split (${c.train} tokens)`;
  for (const k of Object.keys(e) as (keyof RunSettings)[]) if (e[k] === undefined) delete e[k];
  return e;
}

/** n against a k-layer model, in the form's words ("at most …" reads better beside a field than the worker's sentence). */
function nProblem(n: number, k: number, model: string): string | undefined {
  if (inheritNProblem(n, k) === null) return undefined;
  if (k < 2) return `${model} has ${k} layer: Inheritune needs at least 2`;
  return n === k
    ? `less than ${model}'s ${k} layers: n = ${k} leaves nothing to grow`
    : `at most ${k - 1}: ${model} has ${k} layers`;
}

export function validateDemo(d: DemoSettings, buffers?: BufferLimits | null): Errors<DemoSettings> {
  const e: Errors<DemoSettings> = {
    layers: int(d.layers, 2),
    width: int(d.width, 1),
    heads: int(d.heads, 1),
    steps: int(d.steps, 1),
    batch: int(d.batch, 1),
    ctx: int(d.ctx, 1) ?? (d.ctx > 1024 ? 'at most 1024 (GPT-2 positions)' : undefined),
    lr: positive(d.lr),
  };
  if (!e.width && !e.heads && d.width % d.heads !== 0) e.width = `must be a multiple of the ${d.heads} heads`;
  if (!e.width && !e.batch && !e.ctx && buffers) {
    const fit = batchFitProblem({ nEmbd: d.width }, d.batch, d.ctx, buffers);
    if (fit) e.batch = fit;
  }
  for (const k of Object.keys(e) as (keyof DemoSettings)[]) if (e[k] === undefined) delete e[k];
  return e;
}

export const hasErrors = (e: object): boolean => Object.keys(e).length > 0;
