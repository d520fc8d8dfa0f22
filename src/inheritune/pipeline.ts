// The Inheritune run (arXiv 2404.08634, DESIGN.md): evaluate the reference on the corpus; inherit its first n blocks;
// train; grow by two blocks (restart: re-inherit from the reference; continue: keep the trained blocks and append the
// reference's next two); repeat until the small model's validation loss is at or below the reference's or it has all
// k blocks; optionally train a same-size model from random init for the same number of updates (the paper's
// baseline); report. Every phase snapshots through a StateStore, and a run resumes from its last snapshot.

import { exportGpt2, inheritedConfig } from '../io/checkpoint';
import type { Gpu } from '../gpu/runtime';
import { openSafetensors } from '../io/safetensors';
import type { Gpt2Config } from '../model/config';
import { Gpt2Model, type ParamSource } from '../model/gpt2';
import { initParams, paramCount } from '../model/params';
import { validationLoss } from '../train/evaluate';
import type { Peak } from '../train/mfu';
import { openSnapshot, restoreTrainer, saveSnapshot, type StateStore } from '../train/snapshot';
import { Trainer, type TrainEvent, type TrainSettings } from '../train/trainer';
import { Fingerprint } from '../util/fingerprint';
import { continueSource, inheritSource, type ReadParam } from './inherit';

export type GrowMode = 'restart' | 'continue';
export type Phase = 'inheritune' | 'baseline';

export interface InherituneSettings {
  /** Blocks inherited in the first round. */
  n: number;
  stepsPerRound: number;
  grow: GrowMode;
  /** Leave wpe and ln_f at init, as the authors' code does. */
  paperCode: boolean;
  baseline: boolean;
  /** Training settings of every round (steps = stepsPerRound; the schedule restarts per round). */
  train: Omit<TrainSettings, 'steps'>;
  /** Seeds random init (baseline, paper-code tensors). */
  initSeed: number;
  /** Snapshot every this many updates (0: only at round ends and when stopped). Needs a store. */
  checkpointEvery: number;
}

export interface RoundResult {
  phase: Phase;
  round: number;
  n: number;
  params: number;
  steps: number;
  valLossStart: number;
  valLoss: number;
  seconds: number;
}

export interface RunReport {
  reference: { layers: number; params: number; valLoss: number };
  ctx: number;
  windows: number;
  rounds: RoundResult[];
  baseline: RoundResult | null;
  final: { n: number; params: number; valLoss: number; matched: boolean } | null;
  status: 'done' | 'stopped' | 'halted';
  /** Why a halted run stopped: the non-finite step, and whether the one rollback was already spent. */
  halt?: { step: number; reason: string; rollbacks: number };
}

export type PipelineEvent =
  | { type: 'reference'; layers: number; params: number; valLoss: number }
  | { type: 'round-start'; phase: Phase; round: number; n: number; params: number; valLoss: number; resumed: boolean }
  | (TrainEvent & { phase: Phase; round: number })
  | { type: 'round-end'; result: RoundResult }
  | { type: 'grow'; from: number; to: number; mode: GrowMode }
  | { type: 'snapshot'; phase: Phase; round: number; step: number }
  /** A non-finite step was discarded and the run went back to its last snapshot, with the learning rate scaled. */
  | { type: 'rollback'; phase: Phase; round: number; fromStep: number; toStep: number; lrScale: number; reason: string }
  | { type: 'report'; report: RunReport };

/** What a snapshot carries besides the trainer: where the pipeline stands. */
export interface PipelineState {
  settings: InherituneSettings;
  reference: RunReport['reference'];
  rounds: RoundResult[];
  /**
   * The round under way; valLossStart is null until its opening evaluation ran (a round's first snapshot is taken
   * before it; snapshots are JSON, so NaN is no placeholder).
   */
  current: { phase: Phase; round: number; n: number; valLossStart: number | null };
  /** Learning-rate multiplier (halved by a rollback) and rollbacks taken; absent means 1 and 0. */
  lrScale?: number;
  rollbacks?: number;
  /** This run wrote the grown model to FINAL_FILE (before its baseline); a file there without it is another run's. */
  finalSaved?: boolean;
  /** The run has ended (its last snapshot): resuming it reports again and trains nothing. */
  done?: boolean;
  /** Fingerprints of the reference and the tokens the run was started with (absent in older snapshots). */
  inputs?: InputPrints;
}

interface InputPrints {
  reference: string;
  corpus: { train: number; val: number; print: string };
}

/**
 * Fingerprints of a run's inputs, checked on resume: the reference by its config and the parameters that identify
 * it cheaply (position embeddings, final norm), the corpus by its train and validation tokens.
 */
async function inputPrints(ref: PipelineContext['ref'], data: PipelineContext['data']): Promise<InputPrints> {
  const c = ref.config; // field by field: configs built in different places list their keys in different orders
  const r = new Fingerprint().number(c.vocabSize).number(c.nPositions).number(c.nEmbd).number(c.nLayer).number(c.nHead);
  for (const name of ['wpe.weight', 'ln_f.weight', 'ln_f.bias']) r.bytes(await ref.read(name));
  return {
    reference: r.hex(),
    corpus: {
      train: data.train.length,
      val: data.val.length,
      print: new Fingerprint().bytes(data.train).bytes(data.val).hex(),
    },
  };
}

/** Rollbacks a run may take after non-finite steps before it stops, and what each does to the learning rate. */
export const MAX_ROLLBACKS = 1;
export const ROLLBACK_LR_SCALE = 0.5;

export interface PipelineContext {
  gpu: Gpu;
  ref: { config: Gpt2Config; read: ReadParam };
  data: { train: Uint16Array; val: Uint16Array };
  peak: Peak | null;
  store?: StateStore;
  onEvent: (e: PipelineEvent) => void;
  /** Polled between updates: true stops the run after a snapshot. */
  shouldStop?: () => boolean;
  onLoadProgress?: (what: string, done: number, total: number) => void;
  /** The model being trained from now on (after loading, each grow, the baseline), and null once it is disposed. */
  onModel?: (model: Gpt2Model | null) => void;
  /** The grown model, once the Inheritune rounds have ended (before the baseline trains, or on resuming one). */
  onFinal?: (final: NonNullable<PipelineResult['final']>) => void;
}

export interface PipelineResult {
  report: RunReport;
  /** The grown model's config and parameters (null when stopped or halted before any round finished). */
  final: { config: Gpt2Config; params: Map<string, Float32Array> } | null;
}

/** The grown model is kept beside the snapshot while the baseline trains, so a resumed run can still export it. */
export const FINAL_FILE = 'inheritune-final.safetensors';

export function validateInherituneSettings(s: InherituneSettings, k: number): void {
  if (!Number.isInteger(s.n) || s.n < 1 || s.n > k)
    throw new Error(`n must be an integer from 1 to the reference's ${k} blocks, got ${s.n}`);
  if (!Number.isInteger(s.stepsPerRound) || s.stepsPerRound < 1)
    throw new Error(`steps per round must be a positive integer, got ${s.stepsPerRound}`);
  if (s.grow !== 'restart' && s.grow !== 'continue')
    throw new Error(`grow mode must be restart or continue, got ${String(s.grow)}`);
  if (!Number.isInteger(s.checkpointEvery) || s.checkpointEvery < 0)
    throw new Error(`checkpoint interval must be an integer ≥ 0, got ${s.checkpointEvery}`);
}

export async function runInheritune(
  ctx: PipelineContext,
  settings: InherituneSettings | null,
  opts: { resume?: boolean } = {},
): Promise<PipelineResult> {
  const { gpu, ref, data } = ctx;
  const k = ref.config.nLayer;
  const evalOf = (m: Gpt2Model, s: Omit<TrainSettings, 'steps'>) => validationLoss(m, data.val, s.ctx, s.evalWindows);
  const progress = (what: string) => (d: number, t: number) => ctx.onLoadProgress?.(what, d, t);

  let state: PipelineState;
  let trainer: Trainer;
  let resumed = false;
  const snap = opts.resume && ctx.store ? await openSnapshot<PipelineState>(ctx.store) : null;
  if (opts.resume && !snap)
    throw new Error('nothing to resume: the output folder has no training snapshot (state.safetensors)');
  if (snap) {
    try {
      state = snap.meta.extra;
      if (!state?.settings || !state.current) throw new Error('the snapshot was not written by an Inheritune run');
      if (snap.meta.config.nEmbd !== ref.config.nEmbd || snap.meta.config.vocabSize !== ref.config.vocabSize) {
        throw new Error(
          `the snapshot's model (width ${snap.meta.config.nEmbd}, vocabulary ${snap.meta.config.vocabSize}) does not fit this reference (width ${ref.config.nEmbd}, vocabulary ${ref.config.vocabSize})`,
        );
      }
      if (state.inputs) {
        const now = await inputPrints(ref, data);
        if (now.reference !== state.inputs.reference)
          throw new Error(
            'the snapshot was trained from another reference checkpoint than this one: resume with the reference the run started from',
          );
        const [was, is] = [state.inputs.corpus, now.corpus];
        if (is.print !== was.print) {
          throw new Error(
            `the snapshot was trained on another corpus (${was.train.toLocaleString('en-US')} training + ${was.val.toLocaleString('en-US')} validation tokens) than this one ` +
              `(${is.train.toLocaleString('en-US')} + ${is.val.toLocaleString('en-US')}${is.train === was.train && is.val === was.val ? ', different tokens' : ''}): resume with the corpus the run started from`,
          );
        }
      }
      trainer = await restoreTrainer(gpu, snap, data, ctx.peak, progress('restoring'));
      trainer.lrScale = state.lrScale ?? 1;
      ctx.onModel?.(trainer.model);
    } finally {
      await snap.close();
    }
    resumed = true;
  } else {
    if (!settings) throw new Error('settings are required for a new run');
    validateInherituneSettings(settings, k);
    const refModel = await Gpt2Model.create(gpu, ref.config, (n) => ref.read(n), progress('loading reference'));
    let refVal: number;
    try {
      refVal = await evalOf(refModel, settings.train);
    } finally {
      refModel.dispose();
    }
    const reference = { layers: k, params: paramCount(ref.config), valLoss: refVal };
    ctx.onEvent({ type: 'reference', ...reference });
    const first = inheritSource(ref.config, ref.read, settings.n, {
      paperCode: settings.paperCode,
      seed: settings.initSeed,
    });
    trainer = await newTrainer(ctx, first.config, first.source, settings, 0);
    ctx.onModel?.(trainer.model);
    state = {
      settings,
      reference,
      rounds: [],
      current: roundAt('inheritune', 0, settings.n),
      inputs: await inputPrints(ref, data),
    };
  }
  let haltInfo: RunReport['halt'];
  const s = state.settings;
  const inherituneRounds = () => state.rounds.filter((r) => r.phase === 'inheritune');
  const report = (status: RunReport['status']): RunReport => {
    const rounds = inherituneRounds();
    const last = rounds.at(-1);
    return {
      reference: state.reference,
      ctx: s.train.ctx,
      windows: s.train.evalWindows,
      rounds,
      baseline: state.rounds.find((r) => r.phase === 'baseline') ?? null,
      final: last
        ? { n: last.n, params: last.params, valLoss: last.valLoss, matched: last.valLoss <= state.reference.valLoss }
        : null,
      status,
      ...(status === 'halted' && haltInfo ? { halt: haltInfo } : {}),
    };
  };
  let finalParams: Map<string, Float32Array> | null = null;
  const finish = async (status: RunReport['status']): Promise<PipelineResult> => {
    const r = report(status);
    ctx.onEvent({ type: 'report', report: r });
    return {
      report: r,
      final: r.final && finalParams ? { config: inheritedConfig(ref.config, r.final.n), params: finalParams } : null,
    };
  };
  /** The Inheritune rounds have ended with these parameters (the last round's model). */
  const grown = (params: Map<string, Float32Array>, n: number) => {
    finalParams = params;
    ctx.onFinal?.({ config: inheritedConfig(ref.config, n), params });
  };
  const snapshot = async () => {
    if (!ctx.store) return;
    const bar = progress('saving a checkpoint');
    await saveSnapshot(ctx.store, trainer, state, bar).catch((e: unknown) => {
      bar(1, 1); // a save that failed part-way leaves no bar behind (the caller reports the failure)
      throw e;
    });
    ctx.onEvent({
      type: 'snapshot',
      phase: state.current.phase,
      round: state.current.round,
      step: trainer.position.step,
    });
  };
  /**
   * After a non-finite step (the update was not applied, but the parameters may already be bad): go back to the last
   * snapshot with the learning rate scaled down, once. False when there is no snapshot or the rollback is spent.
   */
  const rollBack = async (step: number, reason: string): Promise<boolean> => {
    const taken = state.rollbacks ?? 0;
    haltInfo = { step, reason, rollbacks: taken };
    if (!ctx.store || taken >= MAX_ROLLBACKS) return false;
    const snap = await openSnapshot<PipelineState>(ctx.store);
    if (!snap) return false;
    let restored: Trainer;
    try {
      restored = await restoreTrainer(gpu, snap, data, ctx.peak, progress('rolling back'));
      const measured = state.current.valLossStart;
      state = { ...snap.meta.extra, lrScale: (state.lrScale ?? 1) * ROLLBACK_LR_SCALE, rollbacks: taken + 1 };
      // The snapshot is this round's (every round snapshots as it starts), perhaps from before its opening evaluation.
      state.current.valLossStart ??= measured;
    } finally {
      await snap.close();
    }
    restored.lrScale = state.lrScale!;
    const old = trainer;
    trainer = restored;
    ctx.onModel?.(trainer.model);
    disposeTrainer(old);
    const cur = state.current;
    ctx.onEvent({
      type: 'rollback',
      phase: cur.phase,
      round: cur.round,
      fromStep: step,
      toStep: trainer.position.step,
      lrScale: state.lrScale!,
      reason,
    });
    await snapshot(); // a reload now resumes with the lower rate and the rollback spent
    return true;
  };
  // A new run's first snapshot: the point a non-finite step in its first chunk rolls back to.
  if (!resumed) await snapshot();

  try {
    if (resumed) {
      // Resumed after the Inheritune rounds ended (the baseline under way, or the run done): the grown model is in
      // FINAL_FILE when a baseline followed, else it is the snapshot's own model.
      const last = inherituneRounds().at(-1);
      if (last && (state.done || state.current.phase === 'baseline')) {
        const params = state.finalSaved
          ? await readFinal(ctx.store)
          : state.current.phase === 'inheritune'
            ? await trainer.model.toHost()
            : null;
        if (state.finalSaved && !params)
          throw new Error(`the run folder lost ${FINAL_FILE}, the grown model kept while the baseline trains`);
        if (params) grown(params, last.n);
      }
      if (state.done) return await finish('done'); // already ended: report it again and train nothing
    }
    for (;;) {
      const cur = state.current;
      // Null (or, in snapshots of older versions, NaN) until measured.
      if (cur.valLossStart === null || Number.isNaN(cur.valLossStart))
        cur.valLossStart = await evalOf(trainer.model, s.train);
      const valLossStart = cur.valLossStart;
      ctx.onEvent({
        type: 'round-start',
        phase: cur.phase,
        round: cur.round,
        n: cur.n,
        params: paramCount(trainer.model.config),
        valLoss: valLossStart,
        resumed,
      });
      resumed = false;
      const tag = { phase: cur.phase, round: cur.round };
      for (;;) {
        const chunkEnd =
          s.checkpointEvery > 0 && ctx.store
            ? Math.min(trainer.settings.steps, trainer.position.step + s.checkpointEvery)
            : trainer.settings.steps;
        const out = await trainer.run((e) => ctx.onEvent({ ...e, ...tag }), {
          until: chunkEnd,
          shouldStop: ctx.shouldStop,
        });
        if (out.status === 'halted') {
          if (await rollBack(out.step, out.reason)) continue;
          return await finish('halted');
        }
        if (trainer.done) break;
        await snapshot();
        if (ctx.shouldStop?.()) return await finish('stopped');
      }
      const result: RoundResult = {
        ...tag,
        n: cur.n,
        params: paramCount(trainer.model.config),
        steps: trainer.settings.steps,
        valLossStart,
        valLoss: trainer.position.lastValLoss!,
        seconds: trainer.position.elapsedSec,
      };
      state.rounds.push(result);
      ctx.onEvent({ type: 'round-end', result });

      if (cur.phase === 'inheritune' && result.valLoss > state.reference.valLoss && cur.n < k) {
        const to = Math.min(cur.n + 2, k);
        ctx.onEvent({ type: 'grow', from: cur.n, to, mode: s.grow });
        const next =
          s.grow === 'restart'
            ? inheritSource(ref.config, ref.read, to, { paperCode: s.paperCode, seed: s.initSeed })
            : continueSource(await trainer.model.toHost(), ref.config, ref.read, to);
        const old = trainer;
        trainer = await newTrainer(ctx, next.config, next.source, s, cur.round + 1);
        trainer.lrScale = state.lrScale ?? 1;
        if (s.grow === 'continue') trainer.optimizer.inheritState(old.optimizer);
        ctx.onModel?.(trainer.model);
        disposeTrainer(old);
        state.current = roundAt('inheritune', cur.round + 1, to);
        await snapshot();
        continue;
      }
      if (cur.phase === 'inheritune') {
        const params = await trainer.model.toHost();
        grown(params, cur.n);
        if (s.baseline) {
          const cfg = trainer.model.config;
          if (ctx.store) {
            await ctx.store.write(FINAL_FILE, exportGpt2(cfg, params).safetensors);
            state.finalSaved = true;
          }
          const steps = inherituneRounds().reduce((a, r) => a + r.steps, 0);
          const init = initParams(cfg, s.initSeed);
          const old = trainer;
          trainer = await newTrainer(ctx, cfg, (n) => init.get(n)!, s, cur.round + 1, steps);
          trainer.lrScale = state.lrScale ?? 1;
          ctx.onModel?.(trainer.model);
          disposeTrainer(old);
          state.current = roundAt('baseline', cur.round + 1, cfg.nLayer);
          await snapshot();
          continue;
        }
      }
      state.done = true;
      await snapshot();
      return await finish('done');
    }
  } finally {
    ctx.onModel?.(null);
    disposeTrainer(trainer);
  }
}

function roundAt(phase: Phase, round: number, n: number): PipelineState['current'] {
  return { phase, round, n, valLossStart: null };
}

/** The grown model kept in FINAL_FILE, or null when there is none. */
export async function readFinal(store: StateStore | undefined): Promise<Map<string, Float32Array> | null> {
  const src = store ? await store.open(FINAL_FILE) : null;
  if (!src) return null;
  try {
    const f = await openSafetensors(src, FINAL_FILE);
    const out = new Map<string, Float32Array>();
    for (const name of f.tensors.keys()) out.set(name, await f.readF32(name));
    return out;
  } finally {
    await src.close?.();
  }
}

async function newTrainer(
  ctx: PipelineContext,
  config: Gpt2Config,
  source: ParamSource,
  s: InherituneSettings,
  round: number,
  steps = s.stepsPerRound,
): Promise<Trainer> {
  const model = await Gpt2Model.create(ctx.gpu, config, source, (d, t) =>
    ctx.onLoadProgress?.(`loading ${config.nLayer} blocks`, d, t),
  );
  try {
    // A different batch stream per round; the same stream for a round however the run got there (resume-safe).
    return new Trainer(model, ctx.data, { ...s.train, steps, seed: s.train.seed + 1000 * round }, ctx.peak);
  } catch (e) {
    model.dispose();
    throw e;
  }
}

function disposeTrainer(t: Trainer): void {
  const model = t.model;
  t.dispose();
  model.dispose();
}
