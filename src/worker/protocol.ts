// The one typed boundary between the UI thread and the worker that owns the GPU (DESIGN.md house style 7): commands go
// in, events come out. Everything here is structured-clone safe (plain objects, typed arrays, File/Blob).

import type { AttentionReport } from '../inheritune/analyze';
import type { GrowMode, RoundResult, RunReport } from '../inheritune/pipeline';
import type { Peak } from '../train/mfu';

/** What the user sets before a run (the form). Training details map onto TrainSettings in the worker. */
export interface RunSettings {
  /** Blocks inherited in the first round. */
  n: number;
  stepsPerRound: number;
  grow: GrowMode;
  optimizer: 'adamw' | 'muon';
  schedule: 'cosine' | 'd2z';
  /** Peak learning rate (AdamW; with Muon, for the non-matrix tensors). */
  lr: number;
  /** Muon's own peak learning rate (Muon only). */
  muonLr: number;
  warmup: number;
  batch: number;
  ctx: number;
  accum: number;
  /** Evaluate every this many updates (0: at each round's end only). */
  evalEvery: number;
  evalWindows: number;
  baseline: boolean;
  paperCode: boolean;
  seed: number;
  /** Keep the activations backward reads at the blocks' matmul inputs as f16 (TrainSettings.halfActivations). */
  halfActivations: boolean;
  /** Snapshot to OPFS every this many updates (0: at round ends and on pause only). */
  checkpointEvery: number;
  /** User peak in TFLOP/s for MFU; null = the device table or the measured roofline. */
  peakTflops: number | null;
}

/** The built-in demo's reference: a GPT-2 trained from scratch in the page on the bundled corpus. */
export interface DemoSettings {
  layers: number;
  width: number;
  heads: number;
  steps: number;
  batch: number;
  ctx: number;
  lr: number;
}

export type Command =
  | { type: 'init' }
  /** A model.safetensors, an optional config.json, or both at once. */
  | { type: 'load-checkpoint'; files: File[] }
  /** A .txt corpus; null loads the bundled demo corpus. */
  | { type: 'load-corpus'; file: File | null }
  /** Reference val loss on the corpus + attention-rank analysis, on windows of `ctx` tokens. */
  | { type: 'analyze'; ctx: number; windows: number }
  | { type: 'measure-peak' }
  | { type: 'start'; settings: RunSettings }
  /** Loads the demo corpus (if none), trains the demo reference, then runs Inheritune on it. */
  | { type: 'demo'; demo: DemoSettings; settings: RunSettings }
  /** Stop at the next update boundary after a snapshot; `resume` continues exactly. */
  | { type: 'pause' }
  /** Resume the paused run, or the saved run found in OPFS after a reload. */
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'discard-saved' }
  | { type: 'sample'; prompt: string; tokens: number; temperature: number; topK: number }
  | { type: 'export'; what: 'model' | 'log-json' | 'log-csv' };

export interface AdapterInfo {
  name: string;
  vendor: string;
  architecture: string;
  features: string[];
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  timestamps: boolean;
}

export interface ReferenceInfo {
  label: string;
  layers: number;
  width: number;
  heads: number;
  positions: number;
  vocab: number;
  params: number;
  dtype: string;
  bytes: number;
  /** 'file' = dropped by the user; 'demo' = trained in the page. */
  origin: 'file' | 'demo';
}

export interface CorpusInfo {
  label: string;
  chars: number;
  tokens: number;
  train: number;
  val: number;
}

/** A saved run in OPFS that a reload can resume. */
export interface SavedRunInfo {
  reference: string;
  corpus: string;
  settings: RunSettings;
  phase: string;
  round: number;
  n: number;
  step: number;
  savedAt: string;
}

export type Stage =
  | 'idle'
  | 'loading'
  | 'demo-reference'
  | 'running'
  | 'pausing'
  | 'paused'
  | 'done'
  | 'stopped'
  | 'halted';

/** One point of a chart series, tagged with where it came from. `x` is the update count along its phase. */
export interface MetricPoint {
  phase: 'reference' | 'inheritune' | 'baseline';
  round: number;
  n: number;
  /** Updates since the phase began (rounds of Inheritune continue one axis). */
  x: number;
  kind: 'step' | 'eval';
  loss: number;
  lr?: number;
  gradNorm?: number;
  tokensPerSec?: number;
  flopsPerSec?: number;
  mfu?: number | null;
  /** Tokens in this update (batch × ctx × accum). */
  tokens?: number;
  elapsedSec: number;
}

export interface KernelTime {
  label: string;
  /** GPU milliseconds summed over the profiled updates. */
  ms: number;
  count: number;
}

export type ErrorScope = 'gpu' | 'checkpoint' | 'corpus' | 'analyze' | 'run' | 'sample' | 'export' | 'storage';

export type WorkerEvent =
  | { type: 'ready'; adapter: AdapterInfo; peak: Peak | null; saved: SavedRunInfo | null }
  | { type: 'no-webgpu'; reason: string }
  | { type: 'progress'; task: string; done: number; total: number }
  | { type: 'progress-end'; task: string }
  | { type: 'reference'; info: ReferenceInfo }
  | { type: 'corpus'; info: CorpusInfo }
  | { type: 'reference-val'; valLoss: number; ctx: number; windows: number }
  | { type: 'analysis'; report: AttentionReport }
  | { type: 'peak'; peak: Peak | null }
  | { type: 'stage'; stage: Stage; detail?: string }
  /** The engine's exclusive task (analysing, measuring the peak, training) and the loads under way, whenever they change. */
  | { type: 'busy'; task: string | null; loads: ('checkpoint' | 'corpus')[] }
  | { type: 'metrics'; points: MetricPoint[] }
  | {
      type: 'round-start';
      phase: MetricPoint['phase'];
      round: number;
      n: number;
      params: number;
      valLoss: number;
      x: number;
      stepsPerRound: number;
    }
  | { type: 'round-end'; result: RoundResult }
  | { type: 'grow'; from: number; to: number; mode: GrowMode }
  | { type: 'report'; report: RunReport }
  | { type: 'snapshot'; step: number; savedAt: string }
  | { type: 'kernel-times'; times: KernelTime[] }
  | { type: 'sample'; text: string; done: boolean }
  | { type: 'export'; files: { name: string; blob: Blob }[] }
  | { type: 'saved'; saved: SavedRunInfo | null }
  | { type: 'error'; scope: ErrorScope; message: string };
