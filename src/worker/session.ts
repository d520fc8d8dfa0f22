// One training session in the worker: the Inheritune pipeline (new or resumed) or the demo (train a reference from
// scratch, then Inheritune on it). It turns pipeline events into chart points and protocol events, keeps the run log,
// samples per-kernel GPU time now and then, and keeps the run's inputs (reference, tokens, log) beside its snapshot so
// a reloaded page can resume it.

import type { Gpu } from '../gpu/runtime';
import { exportGpt2 } from '../io/checkpoint';
import {
  FINAL_FILE,
  runInheritune,
  type InherituneSettings,
  type PipelineEvent,
  type PipelineResult,
  type RoundResult,
} from '../inheritune/pipeline';
import type { ReadParam } from '../inheritune/inherit';
import { toHfConfig, type Gpt2Config } from '../model/config';
import { Gpt2Model } from '../model/gpt2';
import { initParams, paramCount } from '../model/params';
import { optimizerConfig } from '../optim/optimizer';
import type { Peak } from '../train/mfu';
import { SNAPSHOT_FILE, type RunStore } from '../train/snapshot';
import { Trainer, type TrainEvent } from '../train/trainer';
import type { Emitter } from './emitter';
import type { DemoSettings, KernelTime, MetricPoint, ReferenceInfo, RunSettings, SavedRunInfo } from './protocol';

/** Files a run keeps beside state.safetensors. */
export const RUN_FILES = {
  reference: 'reference.safetensors',
  config: 'reference-config.json',
  tokens: 'tokens.bin',
  info: 'run.json',
  log: 'log.json',
} as const;

/** Profile one update in this many (its dispatches get their own passes, which costs time). */
const PROFILE_EVERY = 25;

export interface SessionInputs {
  gpu: Gpu;
  emitter: Emitter;
  store: RunStore;
  peak: Peak | null;
  data: { tokens: Uint16Array; train: Uint16Array; val: Uint16Array };
  shouldStop: () => boolean;
}

export type LogEntry = Record<string, unknown> & { type: string };

export class Session {
  /** The model under training (null between phases). */
  live: Gpt2Model | null = null;
  /** The grown model once the Inheritune rounds have ended (while the baseline trains, it is not `live`). */
  grown: NonNullable<PipelineResult['final']> | null = null;
  log: LogEntry[] = [];
  result: PipelineResult | null = null;
  private stepsPerRound = 1;
  /** The run description's writes for resuming (saveMeta), chained. */
  private metaWrites: Promise<void> = Promise.resolve();
  private profiling = false;

  constructor(private readonly io: SessionInputs) {}

  /** Trains the demo reference from GPT-2 init; resolves to its parameters, or null when stopped. */
  async trainDemoReference(
    config: Gpt2Config,
    d: DemoSettings,
    evalWindows: number,
  ): Promise<Map<string, Float32Array> | null> {
    const { gpu, emitter, data } = this.io;
    const init = initParams(config, 1);
    const model = await emitter.tracked('initialising the demo reference', (p) =>
      Gpt2Model.create(gpu, config, (n) => init.get(n)!, p),
    );
    this.live = model;
    const trainer = new Trainer(
      model,
      data,
      {
        batch: d.batch,
        ctx: d.ctx,
        accum: 1,
        steps: d.steps,
        seed: 7,
        evalWindows,
        evalEvery: Math.max(1, Math.ceil(d.steps / 4)),
        schedule: { kind: 'cosine', lr: d.lr, warmup: Math.min(Math.floor(d.steps / 10), 50), minLr: d.lr / 10 },
        optimizer: optimizerConfig('adamw'),
      },
      this.io.peak,
    );
    try {
      emitter.emit({
        type: 'round-start',
        phase: 'reference',
        round: 0,
        n: config.nLayer,
        params: paramCount(config),
        valLoss: NaN,
        x: 0,
        stepsPerRound: d.steps,
      });
      const out = await trainer.run((e) => this.onTrain(e, 'reference', 0, config.nLayer, 0), {
        shouldStop: this.io.shouldStop,
      });
      if (out.status === 'halted') throw new Error(`the demo reference diverged: ${out.reason}`);
      if (out.status === 'stopped') return null;
      return await model.toHost();
    } finally {
      this.live = null;
      trainer.dispose();
      model.dispose();
    }
  }

  /**
   * Saves the run's inputs so a reload can resume it: the reference (the user's file, streamed, or the demo's
   * parameters), its config, the corpus tokens and a description.
   */
  async persistInputs(
    ref: { config: Gpt2Config; file: Blob | null; params: Map<string, Float32Array> | null },
    info: Omit<SavedRunInfo, 'phase' | 'round' | 'n' | 'step' | 'savedAt'>,
    refInfo: ReferenceInfo,
  ): Promise<void> {
    const { store, emitter, data } = this.io;
    await store.remove(SNAPSHOT_FILE);
    await store.remove(FINAL_FILE); // an earlier run's grown model
    if (ref.file) {
      await emitter.tracked('saving the reference for resuming', (p) =>
        store.writeBlob(RUN_FILES.reference, ref.file!, p),
      );
    } else if (ref.params) {
      await store.write(RUN_FILES.reference, exportGpt2(ref.config, ref.params).safetensors);
    }
    await store.write(RUN_FILES.config, [utf8(JSON.stringify(toHfConfig(ref.config)))]);
    await store.write(RUN_FILES.tokens, [
      new Uint8Array(data.tokens.buffer, data.tokens.byteOffset, data.tokens.byteLength),
    ]);
    await store.write(RUN_FILES.info, [utf8(JSON.stringify({ ...info, refInfo }))]);
  }

  async runPipeline(
    ref: { config: Gpt2Config; read: ReadParam },
    settings: InherituneSettings | null,
    info: SavedRunInfo | null,
  ): Promise<PipelineResult> {
    const { gpu, emitter, store, data } = this.io;
    this.stepsPerRound = settings?.stepsPerRound ?? info?.settings.stepsPerRound ?? 1;
    let savedInfo = info;
    const onEvent = (e: PipelineEvent) => {
      switch (e.type) {
        case 'reference':
          this.record(e);
          emitter.emit({
            type: 'reference-val',
            valLoss: e.valLoss,
            ctx: settings?.train.ctx ?? info?.settings.ctx ?? 0,
            windows: settings?.train.evalWindows ?? info?.settings.evalWindows ?? 0,
          });
          break;
        case 'round-start':
          this.record(e);
          this.showRoundStart(e.phase, e.round, e.n, e.params, e.valLoss, this.stepsPerRound);
          break;
        case 'round-end':
          this.record(e);
          emitter.emit({ type: 'round-end', result: e.result });
          break;
        case 'grow':
          this.record(e);
          emitter.emit({ type: 'grow', from: e.from, to: e.to, mode: e.mode });
          break;
        case 'snapshot': {
          this.record(e);
          const savedAt = new Date().toISOString();
          if (savedInfo) {
            savedInfo = {
              ...savedInfo,
              phase: e.phase,
              round: e.round,
              step: e.step,
              savedAt,
              n: this.live?.config.nLayer ?? savedInfo.n,
            };
            const info = savedInfo;
            this.metaWrites = this.metaWrites.then(() => this.saveMeta(info)); // in order, and awaited before the run returns
          }
          emitter.emit({ type: 'snapshot', step: e.step, savedAt });
          break;
        }
        case 'report':
          this.record(e);
          emitter.emit({ type: 'report', report: e.report });
          break;
        case 'rollback':
          this.record(e);
          emitter.emit({
            type: 'error',
            scope: 'run',
            message: `${e.reason} Rolled back to the snapshot at update ${e.toStep} of this round and continued with the learning rate × ${e.lrScale}; a second non-finite step will stop the run.`,
          });
          break;
        default:
          this.onTrain(
            e,
            e.phase,
            e.round,
            this.live?.config.nLayer ?? 0,
            xOrigin(e.phase, e.round, this.stepsPerRound),
          );
      }
    };
    try {
      this.result = await runInheritune(
        {
          gpu,
          ref,
          data,
          peak: this.io.peak,
          store,
          onEvent,
          shouldStop: this.io.shouldStop,
          onLoadProgress: (what, d, t) => {
            emitter.progress(what)(d, t);
            if (d >= t) emitter.end(what);
          },
          onModel: (m) => {
            this.live = m;
          },
          onFinal: (f) => {
            this.grown = f;
          },
        },
        settings,
        { resume: settings === null },
      );
      return this.result;
    } finally {
      if (this.profiling) this.collectTimings();
      await this.metaWrites; // before the caller removes the description of a finished run
      await this.saveLog();
    }
  }

  /** Takes over a saved run's log and shows it again: charts, reference line, finished rounds. */
  replay(log: LogEntry[], s: Pick<RunSettings, 'stepsPerRound' | 'ctx' | 'evalWindows'>): void {
    const { emitter } = this.io;
    const stepsPerRound = s.stepsPerRound;
    this.log = log;
    for (const e of log) {
      const phase = e.phase as MetricPoint['phase'];
      const round = Number(e.round ?? 0);
      const x0 = xOrigin(phase, round, stepsPerRound);
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
          stepsPerRound,
        );
      else if (e.type === 'round-end') emitter.emit({ type: 'round-end', result: e.result as RoundResult });
      else if (e.type === 'step') {
        emitter.point({
          phase,
          round,
          n: 0,
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
    stepsPerRound: number,
  ): void {
    const { emitter } = this.io;
    const x = xOrigin(phase, round, stepsPerRound);
    emitter.emit({
      type: 'round-start',
      phase,
      round,
      n,
      params,
      valLoss,
      x,
      stepsPerRound: phase === 'baseline' ? NaN : stepsPerRound,
    });
    if (Number.isFinite(valLoss)) emitter.point({ phase, round, n, x, kind: 'eval', loss: valLoss, elapsedSec: 0 });
  }

  private onTrain(e: TrainEvent, phase: MetricPoint['phase'], round: number, n: number, x0: number): void {
    const { emitter } = this.io;
    this.record({ ...e, phase, round });
    if (e.type === 'halt') return;
    if (e.type === 'eval') {
      emitter.point({ phase, round, n, x: x0 + e.step, kind: 'eval', loss: e.valLoss, elapsedSec: e.elapsedSec });
      return;
    }
    emitter.point({
      phase,
      round,
      n,
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

  private async saveMeta(info: SavedRunInfo): Promise<void> {
    const { store } = this.io;
    try {
      const old = await readJson<Record<string, unknown>>(store, RUN_FILES.info);
      await store.write(RUN_FILES.info, [utf8(JSON.stringify({ ...old, ...info }))]);
      await this.saveLog();
    } catch (e) {
      this.io.emitter.emit({
        type: 'error',
        scope: 'storage',
        message: `Could not save the run's description for resuming: ${(e as Error).message}`,
      });
    }
  }

  async saveLog(): Promise<void> {
    await this.io.store.write(RUN_FILES.log, [utf8(JSON.stringify(this.log))]).catch(() => undefined);
  }
}

/** Where a round's updates start on the chart's x axis: Inheritune rounds continue one axis, other phases start at 0. */
function xOrigin(phase: MetricPoint['phase'], round: number, stepsPerRound: number): number {
  return phase === 'inheritune' ? round * stepsPerRound : 0;
}

export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export async function readJson<T>(store: RunStore, name: string): Promise<T | null> {
  const src = await store.open(name);
  if (!src) return null;
  try {
    return JSON.parse(new TextDecoder().decode(await src.read(0, src.size))) as T;
  } finally {
    await src.close?.();
  }
}

/** The run log as CSV: one row per training step (phase, round, step, loss, lr, grad norm, tokens/s, MFU) and eval. */
export function logCsv(log: LogEntry[]): string {
  const rows = ['phase,round,kind,step,loss,val_loss,lr,grad_norm,tokens_per_sec,flops_per_sec,mfu,elapsed_sec'];
  const f = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? String(v) : '');
  for (const e of log) {
    if (e.type === 'step')
      rows.push(
        [
          e.phase,
          e.round,
          'step',
          e.step,
          f(e.loss),
          '',
          f(e.lr),
          f(e.gradNorm),
          f(e.tokensPerSec),
          f(e.flopsPerSec),
          f(e.mfu),
          f(e.elapsedSec),
        ].join(','),
      );
    else if (e.type === 'eval')
      rows.push([e.phase, e.round, 'eval', e.step, '', f(e.valLoss), '', '', '', '', '', f(e.elapsedSec)].join(','));
  }
  return `${rows.join('\n')}\n`;
}
