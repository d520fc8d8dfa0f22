// One training session in the worker: the Inheritune pipeline (new or resumed) or the demo (train a reference from
// scratch, then Inheritune on it). It turns pipeline events into chart points and protocol events, keeps the run log
// and the saved run's description in the run folder, hands the models it trains to the current-model owner, and
// samples per-kernel GPU time now and then.

import type { Gpu } from '../gpu/runtime';
import type { BaselineKind } from '../inheritune/baseline-kinds';
import type { ReadParam } from '../inheritune/inherit';
import {
  type InherituneSettings,
  type PipelineEvent,
  type PipelineResult,
  type RoundResult,
  runInheritune,
} from '../inheritune/pipeline';
import type { ModelConfig } from '../model/family';
import { Model } from '../model/model';
import { paramCount } from '../model/params';
import { familyOf } from '../model/registry';
import type { Tokenizer } from '../io/tokenizer';
import type { DemoSettings } from '../settings/demo';
import { wordClasses } from '../train/downstream';
import { demoTrainSettings } from '../settings/engine';
import type { Peak } from '../train/peak';
import type { RunFolder } from '../train/run-folder';
import { type TrainEvent, Trainer } from '../train/trainer';
import type { CurrentModel } from './current-model';
import type { Emitter } from './emitter';
import { EngineError } from './errors';
import type { KernelTime, MetricPoint, RunSettings, SavedRunInfo } from './protocol';

/** Profile one update in this many (its dispatches get their own passes, which costs time). */
const PROFILE_EVERY = 25;

export interface SessionInputs {
  gpu: Gpu;
  emitter: Emitter;
  folder: RunFolder<SavedRunInfo>;
  models: CurrentModel;
  peak: Peak | null;
  data: { train: Uint32Array; val: Uint32Array };
  shouldStop: () => boolean;
}

export type LogEntry = Record<string, unknown> & { type: string };

export class Session {
  log: LogEntry[] = [];
  /** Where the round training now starts on its run's axis, and its baseline kind (chart points). */
  private at: { x0: number; run: BaselineKind | undefined } = { x0: 0, run: undefined };
  /** Blocks of the model training now (for chart points). */
  private blocks = 0;
  /** The run description's writes for resuming, chained. */
  private metaWrites: Promise<void> = Promise.resolve();
  private profiling = false;

  constructor(private readonly io: SessionInputs) {}

  /** Trains the demo reference from its family's init; resolves to its parameters, or null when stopped. */
  async trainDemoReference(
    config: ModelConfig,
    d: DemoSettings,
    evalWindows: number,
  ): Promise<Map<string, Float32Array> | null> {
    const { gpu, emitter, data, models } = this.io;
    const init = familyOf(config).init(config, 1);
    const model = await emitter.tracked('initialising the demo reference', (p) =>
      Model.create(gpu, config, (n) => init.get(n)!, p),
    );
    models.setLive(model);
    const trainer = new Trainer(model, data, demoTrainSettings(d, evalWindows), this.io.peak);
    try {
      emitter.emit({
        type: 'round-start',
        phase: 'reference',
        round: 0,
        n: config.layers,
        params: paramCount(config),
        valLoss: NaN,
        x: 0,
        stepsPerRound: d.steps,
      });
      const out = await trainer.run((e) => this.onTrain(e, 'reference', 0, config.layers, 0), {
        shouldStop: this.io.shouldStop,
      });
      if (out.status === 'halted') throw new EngineError('run', `the demo reference diverged: ${out.reason}`);
      if (out.status === 'stopped') return null;
      return await model.toHost();
    } finally {
      models.setLive(null);
      trainer.dispose();
      model.dispose();
    }
  }

  async runPipeline(
    ref: { config: ModelConfig; read: ReadParam; tokenizer?: Tokenizer },
    settings: InherituneSettings | null,
    info: SavedRunInfo,
  ): Promise<PipelineResult> {
    const { gpu, emitter, data, models } = this.io;
    let savedInfo = info;
    const onEvent = (e: PipelineEvent) => {
      switch (e.type) {
        case 'step':
        case 'eval':
        case 'halt':
          return this.onTrain(e, e.phase, e.round, this.blocks, this.at.x0, this.at.run);
      }
      this.record(e);
      switch (e.type) {
        case 'reference':
          emitter.emit({
            type: 'reference-val',
            valLoss: e.valLoss,
            ctx: info.settings.ctx,
            windows: info.settings.evalWindows,
          });
          break;
        case 'round-start':
          this.blocks = e.n;
          this.showRoundStart(e.phase, e.round, e.n, e.params, e.valLoss, {
            steps: e.steps,
            x0: e.origin,
            run: e.kind,
          });
          break;
        case 'round-end':
          emitter.emit({ type: 'round-end', result: e.result });
          break;
        case 'grow':
          emitter.emit({ type: 'grow', from: e.from, to: e.to, mode: e.mode });
          break;
        case 'snapshot': {
          const savedAt = new Date().toISOString();
          savedInfo = {
            ...savedInfo,
            phase: e.phase,
            round: e.round,
            step: e.step,
            savedAt,
            n: this.blocks || savedInfo.n,
          };
          const patch = savedInfo;
          this.metaWrites = this.metaWrites.then(() => this.saveMeta(patch)); // in order; awaited before the run returns
          emitter.emit({ type: 'snapshot', step: e.step, savedAt });
          break;
        }
        case 'report':
          emitter.emit({ type: 'report', report: e.report });
          break;
        case 'rollback':
          emitter.emit({
            type: 'error',
            scope: 'run',
            code: 'run',
            message: `${e.reason} Rolled back to the snapshot at update ${e.toStep} of this round and continued with the learning rate × ${e.lrScale}; a second non-finite step will stop the run.`,
          });
          break;
      }
    };
    try {
      return await runInheritune(
        {
          gpu,
          ref,
          data,
          peak: this.io.peak,
          store: this.io.folder.store,
          onEvent,
          ...(ref.tokenizer ? { words: wordClasses(ref.tokenizer) } : {}),
          shouldStop: this.io.shouldStop,
          onLoadProgress: (what, d, t) => {
            emitter.progress(what)(d, t);
            if (d >= t) emitter.end(what);
          },
          onModel: (m) => {
            if (m) this.blocks = m.config.layers; // the saved run's n follows a grow at once
            models.setLive(m);
          },
          onFinal: (f) => models.setGrown(f),
        },
        settings,
        { resume: settings === null },
      );
    } finally {
      if (this.profiling) this.collectTimings();
      await this.metaWrites; // before the caller removes the description of a finished run
      await this.saveLog();
    }
  }

  /** The saved run's description follows the run (what the page offers to resume after a reload). */
  private async saveMeta(info: SavedRunInfo): Promise<void> {
    try {
      await this.io.folder.describe(info);
      await this.saveLog();
    } catch (e) {
      this.io.emitter.emit({
        type: 'error',
        scope: 'storage',
        code: 'storage',
        message: `Could not save the run's description for resuming: ${(e as Error).message}`,
      });
    }
  }

  /** Takes over a saved run's log and shows it again: charts, reference line, finished rounds. */
  replay(log: LogEntry[], s: Pick<RunSettings, 'stepsPerRound' | 'ctx' | 'evalWindows'>): void {
    const { emitter } = this.io;
    const stepsPerRound = s.stepsPerRound;
    this.log = log;
    // Logs of older versions lack the round's steps, origin and kind: their baseline was one scratch round.
    let run: BaselineKind | undefined;
    let x0 = 0;
    for (const e of log) {
      const phase = e.phase as MetricPoint['phase'];
      const round = Number(e.round ?? 0);
      if (e.type === 'round-start') {
        x0 = typeof e.origin === 'number' ? e.origin : xOrigin(phase, round, stepsPerRound);
        run = phase === 'baseline' ? ((e.kind as BaselineKind | undefined) ?? 'scratch') : undefined;
      }
      if (e.type === 'reference')
        emitter.emit({ type: 'reference-val', valLoss: Number(e.valLoss), ctx: s.ctx, windows: s.evalWindows });
      // The log holds null for a start-of-round val loss that was not measured (NaN does not survive JSON).
      else if (e.type === 'round-start')
        this.showRoundStart(
          phase,
          round,
          Number(e.n),
          Number(e.params),
          typeof e.valLoss === 'number' ? e.valLoss : NaN,
          {
            steps: typeof e.steps === 'number' ? e.steps : phase === 'baseline' ? NaN : stepsPerRound,
            x0,
            run,
          },
        );
      else if (e.type === 'round-end') emitter.emit({ type: 'round-end', result: e.result as RoundResult });
      else if (e.type === 'step') {
        emitter.point({
          phase,
          round,
          n: 0,
          ...(run ? { run } : {}),
          x: x0 + Number(e.step),
          kind: 'step',
          loss: Number(e.loss),
          lr: Number(e.lr),
          gradNorm: Number(e.gradNorm),
          tokensPerSec: Number(e.tokensPerSec),
          flopsPerSec: Number(e.flopsPerSec),
          mfu: (e.mfu as number | null) ?? null,
          tokens: Number(e.tokens) / (Number(e.step) + 1),
          elapsedSec: Number(e.elapsedSec),
        });
      } else if (e.type === 'eval')
        emitter.point({
          phase,
          round,
          n: 0,
          ...(run ? { run } : {}),
          x: x0 + Number(e.step),
          kind: 'eval',
          loss: Number(e.valLoss),
          elapsedSec: Number(e.elapsedSec),
        });
    }
    emitter.flush();
  }

  /** A round's marker on the charts and its val loss before training (a point at its first x, when measured). */
  private showRoundStart(
    phase: MetricPoint['phase'],
    round: number,
    n: number,
    params: number,
    valLoss: number,
    at: { steps: number; x0: number; run: BaselineKind | undefined },
  ): void {
    const { emitter } = this.io;
    const { x0: x, run } = at;
    this.at = { x0: x, run };
    emitter.emit({
      type: 'round-start',
      phase,
      round,
      n,
      params,
      valLoss,
      x,
      stepsPerRound: at.steps,
      ...(run ? { kind: run } : {}),
    });
    if (Number.isFinite(valLoss))
      emitter.point({ phase, round, n, ...(run ? { run } : {}), x, kind: 'eval', loss: valLoss, elapsedSec: 0 });
  }

  private onTrain(
    e: TrainEvent,
    phase: MetricPoint['phase'],
    round: number,
    n: number,
    x0: number,
    run?: BaselineKind,
  ): void {
    const { emitter } = this.io;
    this.record({ ...e, phase, round });
    if (e.type === 'halt') return;
    const tag = { phase, round, n, ...(run ? { run } : {}) };
    if (e.type === 'eval') {
      emitter.point({ ...tag, x: x0 + e.step, kind: 'eval', loss: e.valLoss, elapsedSec: e.elapsedSec });
      return;
    }
    emitter.point({
      ...tag,
      x: x0 + e.step,
      kind: 'step',
      loss: e.loss,
      lr: e.lr,
      gradNorm: e.gradNorm,
      tokensPerSec: e.tokensPerSec,
      flopsPerSec: e.flopsPerSec,
      mfu: e.mfu,
      tokens: e.tokens / (e.step + 1),
      elapsedSec: e.elapsedSec,
    });
    // Per-kernel GPU time: profile the dispatches recorded after one step event, collect them at the next.
    if (this.profiling) this.collectTimings();
    else if (e.step % PROFILE_EVERY === 1 && this.io.gpu.hasTimestamps) {
      this.io.gpu.setProfiling(true);
      this.profiling = true;
    }
  }

  private collectTimings(): void {
    const gpu = this.io.gpu;
    this.profiling = false;
    const taken = gpu.takeTimings(); // flushes and takes this window's timings synchronously, resolves later
    // Handled before anything else can throw: with a lost device both calls fail, and only setProfiling's throw is ours.
    const shown = taken.then((timings) => {
      if (!timings.length) return;
      const by = new Map<string, KernelTime>();
      for (const t of timings) {
        const k = by.get(t.label) ?? { label: t.label, ms: 0, count: 0 };
        k.ms += t.ns / 1e6;
        k.count++;
        by.set(t.label, k);
      }
      this.io.emitter.emit({ type: 'kernel-times', times: [...by.values()].sort((a, b) => b.ms - a.ms) });
    });
    shown.catch(() => undefined);
    gpu.setProfiling(false);
  }

  private record(e: object): void {
    const entry = { ...(e as LogEntry), time: new Date().toISOString() };
    this.log.push(entry);
  }

  async saveLog(): Promise<void> {
    await this.io.folder.saveLog(this.log).catch(() => undefined);
  }
}

/** Where a round of an older log (its round-start has no origin) starts: Inheritune rounds continue one axis. */
function xOrigin(phase: MetricPoint['phase'], round: number, stepsPerRound: number): number {
  return phase === 'inheritune' ? round * stepsPerRound : 0;
}
