// The Inheritune run (arXiv 2404.08634, DESIGN.md): evaluate the reference on the corpus; inherit its first n blocks;
// train; grow by two blocks (restart: re-inherit from the reference; continue: keep the trained blocks and append the
// reference's next two); repeat until the small model's validation loss is at or below the reference's or it has all
// k blocks; optionally train a same-size model from random init for the same number of updates (the paper's
// baseline); report. The decisions are rounds.ts's pure functions; this module carries them out on the GPU. Every
// phase snapshots through a StateStore, and a run resumes from its last snapshot.

import type { Gpu } from '../gpu/runtime';
import { inheritedConfig } from '../model/checkpoint';
import type { ModelConfig } from '../model/family';
import { Model, type ParamSource } from '../model/model';
import { paramCount } from '../model/params';
import { familyOf } from '../model/registry';
import { streamedValidationLoss, validationLoss } from '../train/evaluate';
import { StreamedWeights } from '../model/streamed';
import type { Peak } from '../train/peak';
import { readFinal, RUN_FILES, writeFinal } from '../train/run-folder';
import { openSnapshot, restoreTrainer, saveSnapshot, type StateStore } from '../train/snapshot';
import { type Downstream, downstreamFrom, downstreamScores, passagesOf, type WordClass } from '../train/downstream';
import { Trainer } from '../train/trainer';
import { DISTILL_KINDS, KD_DEFAULTS } from './baseline-kinds';
import { halfWidthSource, hybridStackSource, stackedSource } from './baselines';
import { continueSource, inheritSource, type ReadParam } from './inherit';
import { inputPrints, resumeProblem } from './inputs';
import {
  type GrowMode,
  type InherituneSettings,
  inherituneRounds,
  kindOf,
  type PipelineEvent,
  type PipelineState,
  type NextRound,
  nextRound,
  type Phase,
  type RoundResult,
  type RunReport,
  roundAt,
  runReport,
} from './rounds';

export type { GrowMode, InherituneSettings, PipelineEvent, PipelineState, Phase, RoundResult, RunReport };

/** Rollbacks a run may take after non-finite steps before it stops, and what each does to the learning rate. */
export const MAX_ROLLBACKS = 1;
export const ROLLBACK_LR_SCALE = 0.5;

export interface PipelineContext {
  gpu: Gpu;
  ref: { config: ModelConfig; read: ReadParam };
  data: { train: Uint32Array; val: Uint32Array };
  peak: Peak | null;
  store?: StateStore;
  onEvent: (e: PipelineEvent) => void;
  /** What each token id is to a word (the corpus's tokenizer): with it, every model gets downstream scores. */
  words?: (id: number) => WordClass;
  /** Polled between updates: true stops the run after a snapshot. */
  shouldStop?: () => boolean;
  onLoadProgress?: (what: string, done: number, total: number) => void;
  /** The model being trained from now on (after loading, each grow, the baseline), and null once it is disposed. */
  onModel?: (model: Model | null) => void;
  /** The grown model, once the Inheritune rounds have ended (before the baseline trains, or on resuming one). */
  onFinal?: (final: NonNullable<PipelineResult['final']>) => void;
}

export interface PipelineResult {
  report: RunReport;
  /** The grown model's config and parameters (null when stopped or halted before any round finished). */
  final: { config: ModelConfig; params: Map<string, Float32Array> } | null;
}

/** Runs Inheritune with `settings` (already checked against the settings schema), or resumes the stored run. */
export async function runInheritune(
  ctx: PipelineContext,
  settings: InherituneSettings | null,
  opts: { resume?: boolean } = {},
): Promise<PipelineResult> {
  const run = opts.resume ? await InherituneRun.resume(ctx) : await InherituneRun.start(ctx, settings);
  try {
    return await run.go();
  } finally {
    run.close();
  }
}

class InherituneRun {
  private halt: RunReport['halt'];
  private finalParams: Map<string, Float32Array> | null = null;
  /** The kd baseline's teacher while it trains (the reference, whole). */
  private teacher: Model | null = null;

  private constructor(
    private readonly ctx: PipelineContext,
    /** Where the run stands (what a snapshot carries besides the trainer). */
    public state: PipelineState,
    private trainer: Trainer,
    /** Resumed from a snapshot, and its first round not yet announced. */
    private resumed: boolean,
  ) {}

  private get s(): InherituneSettings {
    return this.state.settings;
  }

  private progress(what: string) {
    return (d: number, t: number) => this.ctx.onLoadProgress?.(what, d, t);
  }

  /** A new run: the reference's validation loss, inherit(n), the first snapshot (what a first-chunk failure rolls back to). */
  static async start(ctx: PipelineContext, settings: InherituneSettings | null): Promise<InherituneRun> {
    if (!settings) throw new Error('settings are required for a new run');
    const { gpu, ref } = ctx;
    // Made first (lazily: nothing is read yet), so an n the reference cannot give fails before any GPU work.
    const first = inheritSource(ref.config, ref.read, settings.n, inheritOptions(settings));
    // Layer by layer: the reference never has to fit on the GPU whole.
    const progress = (d: number, t: number) => ctx.onLoadProgress?.('evaluating the reference', d, t);
    const { ctx: T, evalWindows: W } = settings.train;
    const scores = ctx.words ? { logp: new Float32Array(W * T), top1: new Float32Array(W * T) } : undefined;
    const refVal = await streamedValidationLoss(
      new StreamedWeights(gpu, ref.config, (n) => ref.read(n)),
      ctx.data.val,
      T,
      W,
      { onProgress: progress, scores },
    );
    const downstream: Downstream | undefined =
      scores && ctx.words
        ? downstreamFrom(passagesOf(ctx.data.val, T, W), scores.logp, scores.top1, T, ctx.words)
        : undefined;
    const reference = {
      layers: ref.config.layers,
      params: paramCount(ref.config),
      valLoss: refVal,
      ...(downstream ? { downstream } : {}),
    };
    ctx.onEvent({ type: 'reference', ...reference });
    const trainer = await newTrainer(ctx, first.config, first.source, settings, 0);
    ctx.onModel?.(trainer.model);
    const run = new InherituneRun(
      ctx,
      { settings, reference, rounds: [], current: roundAt('inheritune', 0, settings.n) },
      trainer,
      false,
    );
    try {
      run.state.inputs = await inputPrints(ref, ctx.data);
      await run.snapshot();
    } catch (e) {
      run.close();
      throw e;
    }
    return run;
  }

  /** The stored run, checked against the reference and corpus given now. */
  static async resume(ctx: PipelineContext): Promise<InherituneRun> {
    const snap = ctx.store ? await openSnapshot<PipelineState>(ctx.store) : null;
    if (!snap) throw new Error(`nothing to resume: the output folder has no training snapshot (${RUN_FILES.state})`);
    try {
      const state = snap.meta.extra;
      if (!state?.settings || !state.current) throw new Error('the snapshot was not written by an Inheritune run');
      const [was, ref] = [snap.meta.config, ctx.ref.config];
      if (was.family !== ref.family || was.width !== ref.width || was.vocabSize !== ref.vocabSize) {
        throw new Error(
          `the snapshot's model (${familyOf(was).label}, width ${was.width}, vocabulary ${was.vocabSize}) does not fit this reference (${familyOf(ref).label}, width ${ref.width}, vocabulary ${ref.vocabSize})`,
        );
      }
      if (state.inputs) {
        const problem = resumeProblem(state.inputs, await inputPrints(ctx.ref, ctx.data));
        if (problem) throw new Error(problem);
      }
      const trainer = await restoreTrainer(ctx.gpu, snap, ctx.data, ctx.peak, (d, t) =>
        ctx.onLoadProgress?.('restoring', d, t),
      );
      trainer.lrScale = state.lrScale ?? 1;
      ctx.onModel?.(trainer.model);
      return new InherituneRun(ctx, state, trainer, true);
    } finally {
      await snap.close();
    }
  }

  async go(): Promise<PipelineResult> {
    if (this.resumed) {
      // Resumed after the Inheritune rounds ended (the baseline under way, or the run done): the grown model is in the
      // run folder when a baseline followed, else it is the snapshot's own model.
      const { state } = this;
      const last = inherituneRounds(state).at(-1);
      if (last && (state.done || state.current.phase === 'baseline')) {
        const params = state.finalSaved
          ? await readFinal(this.ctx.store)
          : state.current.phase === 'inheritune'
            ? await this.trainer.model.toHost()
            : null;
        if (state.finalSaved && !params)
          throw new Error(`the run folder lost ${RUN_FILES.final}, the grown model kept while the baseline trains`);
        if (params) this.grown(params, last.n);
      }
      if (state.done) return this.finish('done'); // already ended: report it again and train nothing
    }
    for (;;) {
      const ended = await this.trainRound();
      if (ended !== 'done') return this.finish(ended);
      const cur = this.state.current;
      const { config } = this.trainer.model;
      const ts = this.trainer.settings;
      const tokens = ts.steps * ts.batch * ts.ctx * ts.accum;
      const downstream = this.ctx.words
        ? await downstreamScores(this.trainer.model, this.ctx.data.val, ts.ctx, ts.evalWindows, this.ctx.words)
        : undefined;
      const result: RoundResult = {
        phase: cur.phase,
        round: cur.round,
        n: cur.n,
        ...(cur.kind ? { kind: cur.kind, stage: cur.stage ?? 0 } : {}),
        width: config.width,
        params: paramCount(config),
        steps: ts.steps,
        tokens,
        // The trainer's FLOPs per token: the model's training, plus a distillation teacher's forward.
        flops: this.trainer.perToken * tokens,
        valLossStart: cur.valLossStart!,
        valLoss: this.trainer.position.lastValLoss!,
        seconds: this.trainer.position.elapsedSec,
        ...(downstream ? { downstream } : {}),
      };
      this.state.rounds.push(result);
      this.ctx.onEvent({ type: 'round-end', result });
      const next = nextRound(this.state, result);
      if (next.kind === 'grow') {
        await this.grow(next.to, next.mode);
        continue;
      }
      if (cur.phase === 'inheritune') this.grown(await this.trainer.model.toHost(), cur.n);
      if (next.kind === 'baseline') {
        await this.startBaseline(next);
        continue;
      }
      this.state.done = true;
      await this.snapshot();
      return this.finish('done');
    }
  }

  /** The current round from its opening evaluation to its last update, snapshotting every checkpointEvery updates. */
  private async trainRound(): Promise<'done' | 'stopped' | 'halted'> {
    const { ctx, s } = this;
    const cur = this.state.current;
    await this.teach();
    // Null (or, in snapshots of older versions, NaN) until measured.
    if (cur.valLossStart === null || Number.isNaN(cur.valLossStart))
      cur.valLossStart = await validationLoss(this.trainer.model, ctx.data.val, s.train.ctx, s.train.evalWindows);
    ctx.onEvent({
      type: 'round-start',
      phase: cur.phase,
      round: cur.round,
      n: cur.n,
      params: paramCount(this.trainer.model.config),
      valLoss: cur.valLossStart,
      resumed: this.resumed,
      steps: this.trainer.settings.steps,
      origin: this.state.rounds
        .filter((r) => r.phase === cur.phase && (cur.phase === 'inheritune' || kindOf(r) === cur.kind))
        .reduce((a, r) => a + r.steps, 0),
      ...(cur.kind ? { kind: cur.kind, stage: cur.stage ?? 0 } : {}),
    });
    this.resumed = false;
    const tag = { phase: cur.phase, round: cur.round };
    for (;;) {
      const trainer = this.trainer;
      const chunkEnd =
        s.checkpointEvery > 0 && ctx.store
          ? Math.min(trainer.settings.steps, trainer.position.step + s.checkpointEvery)
          : trainer.settings.steps;
      const out = await trainer.run((e) => ctx.onEvent({ ...e, ...tag }), {
        until: chunkEnd,
        shouldStop: ctx.shouldStop,
      });
      if (out.status === 'halted') {
        if (await this.rollBack(out.step, out.reason)) continue;
        return 'halted';
      }
      if (trainer.done) return 'done';
      await this.snapshot();
      if (ctx.shouldStop?.()) return 'stopped';
    }
  }

  /**
   * The kd baselines' teacher: the whole reference on the GPU, attached to the trainer while a kd or kd-hidden round
   * trains (also after a resume or a rollback, whose trainers come from a snapshot) and freed once another round
   * starts.
   */
  private async teach(): Promise<void> {
    const kind = this.state.current.kind;
    if (!kind || !DISTILL_KINDS.includes(kind)) {
      this.teacher?.dispose();
      this.teacher = null;
      return;
    }
    if (this.trainer.distilling) return;
    const ref = this.ctx.ref;
    this.teacher ??= await Model.create(
      this.ctx.gpu,
      ref.config,
      (n) => ref.read(n),
      this.progress('loading the teacher'),
    );
    const { alpha, tau, beta } = { ...KD_DEFAULTS, ...this.s.kd };
    this.trainer.setDistillation({
      teacher: this.teacher,
      alpha,
      tau,
      ...(kind === 'kd-hidden' ? { hidden: beta } : {}),
    });
  }

  /** Grows to `to` blocks: re-inherited from the reference (restart) or the trained model plus reference blocks. */
  private async grow(to: number, mode: GrowMode): Promise<void> {
    const { ctx, s } = this;
    const cur = this.state.current;
    ctx.onEvent({ type: 'grow', from: cur.n, to, mode });
    const next =
      mode === 'restart'
        ? inheritSource(ctx.ref.config, ctx.ref.read, to, inheritOptions(s))
        : continueSource(await this.trainer.model.toHost(), ctx.ref.config, ctx.ref.read, to, inheritOptions(s));
    await this.replaceTrainer(await newTrainer(ctx, next.config, next.source, s, cur.round + 1), mode === 'continue');
    this.state.current = roundAt('inheritune', cur.round + 1, to);
    await this.snapshot();
  }

  /**
   * A baseline's stage (baselines.ts): the grown model is kept in the run folder before the first; each stage's
   * weights come from random init, the previous stage's model stacked, the reference's first blocks stacked, or the
   * reference narrowed to half width.
   */
  private async startBaseline(next: Extract<NextRound, { kind: 'baseline' }>): Promise<void> {
    const { ctx, s } = this;
    const cur = this.state.current;
    const { plan } = next;
    if (ctx.store && this.finalParams && !this.state.finalSaved) {
      await writeFinal(ctx.store, this.trainer.model.config, this.finalParams);
      this.state.finalSaved = true;
    }
    const ref = ctx.ref.config;
    let built: { config: ModelConfig; source: ParamSource };
    if (plan.init === 'half-width') built = halfWidthSource(ref, ctx.ref.read);
    else if (plan.init === 'hybrid-stack') built = hybridStackSource(ref, ctx.ref.read, plan.layers);
    else if (plan.init === 'stack') {
      const from = this.trainer.model.config;
      const trained = await this.trainer.model.toHost();
      const config = inheritedConfig(ref, plan.layers);
      built = { config, source: stackedSource((n) => trained.get(n)!, from, config) };
    } else {
      // scratch, and the kd students: the family's random init.
      const config = inheritedConfig(ref, plan.layers);
      const init = familyOf(config).init(config, s.initSeed);
      built = { config, source: (n) => init.get(n)! };
    }
    const round = cur.round + 1;
    await this.replaceTrainer(await newTrainer(ctx, built.config, built.source, s, round, plan.steps));
    this.state.current = roundAt('baseline', round, plan.layers, { kind: next.baseline, stage: next.stage });
    await this.snapshot();
  }

  /**
   * Makes `next` the trainer (at the run's learning-rate scale), disposing the old one and its model; with
   * `keepOptimizer`, the tensors both models have keep their optimizer state (continue-mode grow).
   */
  private async replaceTrainer(next: Trainer, keepOptimizer = false): Promise<void> {
    const old = this.trainer;
    next.lrScale = this.state.lrScale ?? 1;
    if (keepOptimizer) next.optimizer.inheritState(old.optimizer);
    this.trainer = next;
    this.ctx.onModel?.(next.model);
    disposeTrainer(old);
  }

  private async snapshot(): Promise<void> {
    const { ctx, state } = this;
    if (!ctx.store) return;
    const bar = this.progress('saving a checkpoint');
    await saveSnapshot(ctx.store, this.trainer, state, bar).catch((e: unknown) => {
      bar(1, 1); // a save that failed part-way leaves no bar behind (the caller reports the failure)
      throw e;
    });
    const { phase, round } = state.current;
    ctx.onEvent({ type: 'snapshot', phase, round, step: this.trainer.position.step });
  }

  /**
   * After a non-finite step (the update was not applied, but the parameters may already be bad): go back to the last
   * snapshot with the learning rate scaled down, once. False when there is no snapshot or the rollback is spent.
   */
  private async rollBack(step: number, reason: string): Promise<boolean> {
    const { ctx } = this;
    const taken = this.state.rollbacks ?? 0;
    this.halt = { step, reason, rollbacks: taken };
    if (!ctx.store || taken >= MAX_ROLLBACKS) return false;
    const snap = await openSnapshot<PipelineState>(ctx.store);
    if (!snap) return false;
    let restored: Trainer;
    try {
      restored = await restoreTrainer(ctx.gpu, snap, ctx.data, ctx.peak, this.progress('rolling back'));
      const measured = this.state.current.valLossStart;
      this.state = { ...snap.meta.extra, lrScale: (this.state.lrScale ?? 1) * ROLLBACK_LR_SCALE, rollbacks: taken + 1 };
      // The snapshot is this round's (every round snapshots as it starts), perhaps from before its opening evaluation.
      this.state.current.valLossStart ??= measured;
    } finally {
      await snap.close();
    }
    await this.replaceTrainer(restored);
    await this.teach(); // a kd round's restored trainer gets its teacher again
    const { phase, round } = this.state.current;
    const lrScale = this.state.lrScale!;
    ctx.onEvent({ type: 'rollback', phase, round, fromStep: step, toStep: restored.position.step, lrScale, reason });
    await this.snapshot(); // a reload now resumes with the lower rate and the rollback spent
    return true;
  }

  /** The Inheritune rounds have ended with these parameters (the last round's model). */
  private grown(params: Map<string, Float32Array>, n: number): void {
    this.finalParams = params;
    this.ctx.onFinal?.({ config: inheritedConfig(this.ctx.ref.config, n), params });
  }

  private finish(status: RunReport['status']): PipelineResult {
    const report = runReport(this.state, status, this.halt);
    this.ctx.onEvent({ type: 'report', report });
    const final =
      report.final && this.finalParams
        ? { config: inheritedConfig(this.ctx.ref.config, report.final.n), params: this.finalParams }
        : null;
    return { report, final };
  }

  close(): void {
    this.ctx.onModel?.(null);
    disposeTrainer(this.trainer);
    this.teacher?.dispose();
    this.teacher = null;
  }
}

async function newTrainer(
  ctx: PipelineContext,
  config: ModelConfig,
  source: ParamSource,
  s: InherituneSettings,
  round: number,
  steps = s.stepsPerRound,
): Promise<Trainer> {
  const model = await Model.create(ctx.gpu, config, source, (d, t) =>
    ctx.onLoadProgress?.(`loading ${config.layers} blocks`, d, t),
  );
  try {
    // A different batch stream per round; the same stream for a round however the run got there (resume-safe). A
    // baseline stage shorter than a round (the stack's) warms up for at most all but its last update.
    const schedule = { ...s.train.schedule, warmup: Math.min(s.train.schedule.warmup, steps - 1) };
    return new Trainer(model, ctx.data, { ...s.train, schedule, steps, seed: s.train.seed + 1000 * round }, ctx.peak);
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/** How the run inherits: the paper-code tensors and the ablation's left-out sub-modules from init. */
function inheritOptions(s: InherituneSettings) {
  return { paperCode: s.paperCode, seed: s.initSeed, parts: s.inherit ?? 'all', norms: s.inheritNorms ?? false };
}

function disposeTrainer(t: Trainer): void {
  const model = t.model;
  t.dispose();
  model.dispose();
}
