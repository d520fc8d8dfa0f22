// The UI's state (zustand): what the worker has told us, the run form, and actions that send commands. Components
// read it with atomic selectors (`useApp((s) => s.stage)`); chart points go to `series`, not here, so a metrics batch
// re-renders only the few numbers that show the latest values.

import { create } from 'zustand';
import type { AttentionReport } from '../inheritune/analyze';
import type { GrowMode, RoundResult, RunReport } from '../inheritune/rounds';
import { DEFAULT_DEMO } from '../settings/demo';
import { defaultRunSettings } from '../settings/schema';
import type { Peak } from '../train/peak';
import type {
  AdapterInfo,
  Command,
  CorpusInfo,
  DemoSettings,
  ErrorCode,
  ErrorScope,
  KernelTime,
  MetricPoint,
  ReferenceInfo,
  RunSettings,
  SavedRunInfo,
  Stage,
  WorkerEvent,
} from '../worker/protocol';
import { comparisonByFlops, comparisonByTokens, series } from './series';

/** Every chart store, cleared and given the reference line together. */
const stores = [series, comparisonByTokens, comparisonByFlops];

/** The form's starting values: the schema's defaults. */
export const DEFAULT_SETTINGS: RunSettings = defaultRunSettings();

export { DEFAULT_DEMO };

export interface Latest {
  phase: MetricPoint['phase'];
  round: number;
  n: number;
  x: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSec: number;
  flopsPerSec: number;
  mfu: number | null;
  elapsedSec: number;
}

export interface AppError {
  id: number;
  scope: ErrorScope;
  code: ErrorCode;
  message: string;
}

export interface AppState {
  gpu: { status: 'starting' | 'ready' | 'unavailable'; adapter: AdapterInfo | null; reason: string | null };
  peak: Peak | null;
  /** Long tasks under way (loading, tokenizing, training the demo reference…), by name. */
  progress: Record<string, { done: number; total: number }>;
  reference: ReferenceInfo | null;
  corpus: CorpusInfo | null;
  refVal: { valLoss: number; ctx: number; windows: number } | null;
  analysis: AttentionReport | null;
  stage: Stage;
  stageDetail: string | null;
  /** The engine's exclusive task (e.g. "analysing the reference") and its loads under way. */
  engine: { task: string | null; loads: string[] };
  settings: RunSettings;
  demo: DemoSettings;
  latest: Latest | null;
  latestVal: number | null;
  /** Compute so far in this run (all phases): tokens and FLOPs. */
  totals: { tokens: number; flops: number };
  /** The model being trained now. */
  current: {
    phase: string;
    round: number;
    n: number;
    params: number;
    stepsPerRound: number;
    x: number;
    /** A baseline round's kind. */
    kind?: string;
  } | null;
  rounds: RoundResult[];
  report: RunReport | null;
  kernelTimes: KernelTime[];
  sample: { text: string; running: boolean };
  saved: SavedRunInfo | null;
  lastSnapshot: string | null;
  errors: AppError[];
  /** Files the worker exported, waiting for the UI to download them. */
  downloads: { name: string; blob: Blob }[];
  /** An export was asked for and its files (or its error) have not come back yet. */
  exportPending: boolean;
  /** The grows of this run, in order. */
  grows: { from: number; to: number; mode: GrowMode }[];
  /** Which model Sample and Export would use (null: none yet), and whether a run log can be exported. */
  models: { current: string | null; log: boolean };

  setSettings(patch: Partial<RunSettings>): void;
  setDemo(patch: Partial<DemoSettings>): void;
  dismissError(id: number): void;
  takeDownloads(): { name: string; blob: Blob }[];
  /** Files the page made itself (the comparison table), saved like the worker's exports. */
  addDownloads(files: { name: string; blob: Blob }[]): void;
  send(cmd: Command): void;
  handle(e: WorkerEvent): void;
}

/** A new command in a scope clears that scope's old errors (a fixed file replaces the message about the bad one). */
const CLEARS: Partial<Record<Command['type'], ErrorScope[]>> = {
  'load-checkpoint': ['checkpoint'],
  'load-corpus': ['corpus'],
  start: ['run'],
  demo: ['run', 'corpus'],
  resume: ['run', 'storage'],
  sample: ['sample'],
  export: ['export'],
  analyze: ['analyze'],
};

let errorId = 0;
let post: (cmd: Command) => void = () => {
  throw new Error('the UI is not connected to the engine worker');
};

/** Connects the store to the worker (main.tsx; tests pass a fake). */
export function connectStore(send: (cmd: Command) => void): void {
  post = send;
}

/** Clears everything a new run replaces. */
function runReset(): Partial<AppState> {
  for (const s of stores) s.clear();
  return {
    latest: null,
    latestVal: null,
    totals: { tokens: 0, flops: 0 },
    current: null,
    rounds: [],
    report: null,
    kernelTimes: [],
    lastSnapshot: null,
    grows: [],
  };
}

export const useApp = create<AppState>()((set, get) => ({
  gpu: { status: 'starting', adapter: null, reason: null },
  peak: null,
  progress: {},
  reference: null,
  corpus: null,
  refVal: null,
  analysis: null,
  stage: 'idle',
  stageDetail: null,
  engine: { task: null, loads: [] },
  settings: DEFAULT_SETTINGS,
  demo: DEFAULT_DEMO,
  latest: null,
  latestVal: null,
  totals: { tokens: 0, flops: 0 },
  current: null,
  rounds: [],
  report: null,
  kernelTimes: [],
  sample: { text: '', running: false },
  grows: [],
  models: { current: null, log: false },
  saved: null,
  lastSnapshot: null,
  errors: [],
  downloads: [],
  exportPending: false,

  setSettings: (patch) => set((s) => ({ settings: { ...s.settings, ...patch } })),
  setDemo: (patch) => set((s) => ({ demo: { ...s.demo, ...patch } })),
  dismissError: (id) => set((s) => ({ errors: s.errors.filter((e) => e.id !== id) })),
  takeDownloads: () => {
    const d = get().downloads;
    set({ downloads: [] });
    return d;
  },
  addDownloads: (files) => set((s) => ({ downloads: [...s.downloads, ...files] })),

  send(cmd) {
    const clear = CLEARS[cmd.type];
    if (clear) set((s) => ({ errors: s.errors.filter((e) => !clear.includes(e.scope)) }));
    if (cmd.type === 'start' || cmd.type === 'demo') set(runReset());
    if (cmd.type === 'resume' && get().stage !== 'paused') set(runReset());
    if (cmd.type === 'sample') set({ sample: { text: '', running: true } });
    post(cmd);
  },

  handle(e) {
    switch (e.type) {
      case 'ready':
        set({ gpu: { status: 'ready', adapter: e.adapter, reason: null }, peak: e.peak, saved: e.saved });
        break;
      case 'no-webgpu':
        set({ gpu: { status: 'unavailable', adapter: null, reason: e.reason } });
        break;
      case 'progress':
        set((s) => ({ progress: { ...s.progress, [e.task]: { done: e.done, total: e.total } } }));
        break;
      case 'progress-end':
        set((s) => {
          const { [e.task]: _gone, ...rest } = s.progress;
          return { progress: rest };
        });
        break;
      case 'reference':
        set({ reference: e.info, refVal: null, analysis: null });
        for (const s of stores) s.setReference(null);
        break;
      case 'corpus':
        set({ corpus: e.info, refVal: null, analysis: null });
        for (const s of stores) s.setReference(null);
        break;
      case 'reference-val':
        set({ refVal: { valLoss: e.valLoss, ctx: e.ctx, windows: e.windows } });
        for (const s of stores) s.setReference(e.valLoss);
        break;
      case 'analysis':
        set((s) => ({
          analysis: e.report,
          settings: s.stage === 'idle' ? { ...s.settings, n: e.report.suggestion.n } : s.settings,
        }));
        break;
      case 'peak':
        set({ peak: e.peak });
        break;
      case 'stage':
        set({ stage: e.stage, stageDetail: e.detail ?? null });
        break;
      case 'busy':
        set({ engine: { task: e.task, loads: e.loads } });
        break;
      case 'metrics': {
        series.add(e.points);
        comparisonByTokens.add(e.points);
        comparisonByFlops.add(e.points);
        let { tokens, flops } = get().totals;
        let latest = get().latest;
        let latestVal = get().latestVal;
        for (const p of e.points) {
          if (p.kind === 'eval') {
            // The grown model's: the val-loss tile and its gap to the reference are Inheritune's (not the baseline's).
            if (p.phase === 'inheritune') latestVal = p.loss;
            continue;
          }
          latest = {
            phase: p.phase,
            round: p.round,
            n: p.n,
            x: p.x,
            loss: p.loss,
            lr: p.lr ?? NaN,
            gradNorm: p.gradNorm ?? NaN,
            tokensPerSec: p.tokensPerSec ?? NaN,
            flopsPerSec: p.flopsPerSec ?? NaN,
            mfu: p.mfu ?? null,
            elapsedSec: p.elapsedSec,
          };
          const t = p.tokens ?? 0;
          tokens += t;
          // FLOPs per token = achieved FLOP/s ÷ tokens/s (the model's 6N + 12·L·C·T).
          if (p.flopsPerSec && p.tokensPerSec) flops += t * (p.flopsPerSec / p.tokensPerSec);
        }
        set({ latest, latestVal, totals: { tokens, flops } });
        break;
      }
      case 'round-start':
        set({
          current: {
            phase: e.phase,
            round: e.round,
            n: e.n,
            params: e.params,
            stepsPerRound: e.stepsPerRound,
            x: e.x,
            ...(e.kind ? { kind: e.kind } : {}),
          },
        });
        // The live loss chart draws Inheritune (and the demo reference); baselines have the comparison charts.
        if (e.phase !== 'baseline') series.mark({ x: e.x, label: `n=${e.n}` });
        break;
      case 'round-end':
        set((s) => ({ rounds: [...s.rounds, e.result] }));
        break;
      case 'report':
        set({ report: e.report });
        break;
      case 'snapshot':
        set({ lastSnapshot: e.savedAt });
        break;
      case 'kernel-times':
        set({ kernelTimes: e.times });
        break;
      case 'sample':
        set((s) => ({ sample: { text: s.sample.text + e.text, running: !e.done } }));
        break;
      case 'export':
        set((s) => ({ downloads: [...s.downloads, ...e.files], exportPending: false }));
        break;
      case 'grow':
        set((s) => ({ grows: [...s.grows, { from: e.from, to: e.to, mode: e.mode }] }));
        break;
      case 'models':
        set({ models: { current: e.current, log: e.log } });
        break;
      case 'saved':
        set({ saved: e.saved });
        break;
      case 'error':
        set((s) => ({
          errors: [...s.errors, { id: ++errorId, scope: e.scope, code: e.code, message: e.message }],
          sample: e.scope === 'sample' ? { ...s.sample, running: false } : s.sample,
          exportPending: e.scope === 'export' ? false : s.exportPending,
        }));
        break;
      default:
        unhandled(e);
    }
  },
}));

/** Every event has a case above: a new event without one fails tsc here. */
function unhandled(e: never): never {
  throw new Error(`the store has no case for the worker event ${(e as { type: string }).type}`);
}
