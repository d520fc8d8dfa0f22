// The one typed boundary between the UI thread and the worker that owns the GPU (DESIGN.md house style 7): commands go
// in, events come out. Everything here is structured-clone safe (plain objects, typed arrays, File/Blob).

import type { Capabilities } from '../gpu/capabilities';
import type { BaselineKind } from '../inheritune/baseline-kinds';
import type { AttentionReport } from '../inheritune/analyze';
import type { GrowMode, RoundResult, RunReport } from '../inheritune/rounds';
import type { DemoSettings } from '../settings/demo';
import type { RunSettings } from '../settings/schema';
import type { Peak } from '../train/peak';
import type { ErrorCode } from './errors';
import type { Stage } from './stages';

export type { DemoSettings, ErrorCode, RunSettings, Stage };

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
  | { type: 'export'; what: 'model' | 'log-json' | 'log-csv'; dtype?: 'F32' | 'BF16' };

export interface AdapterInfo {
  name: string;
  vendor: string;
  architecture: string;
  features: string[];
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  timestamps: boolean;
  /** shader-f16, subgroups, subgroup-matrix configs (gpu/capabilities.ts), and the same in one line. */
  capabilities: Capabilities;
  capabilityLine: string;
  /** Which switch of this browser or platform would unlock tensor-core matmuls it lacks, or null. */
  unlock: string | null;
  /** The tensor-core kernel's tile where f16-mixed runs its block products on tensor cores here (words), else null. */
  tensorCoreTile: string | null;
  /** The device table's FP16 tensor peak, where tensorCoreTile is set and the table knows the GPU: f16-mixed's MFU. */
  tensorCorePeak: Peak | null;
  /** What the check of the tensor cores found (verifyTensorCores), in words; null where there are none to check. */
  tensorCoreCheck: string | null;
}

export interface ReferenceInfo {
  label: string;
  /** The family's name (GPT-2, …). */
  family: string;
  /** The architecture (GPT-2, LlamaForCausalLM, …). */
  architecture: string;
  layers: number;
  width: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** The tokenizer the corpus is encoded with (its id: gpt2, hf:BPE:…). */
  tokenizer: string;
  /** Parameters of one block, and of everything outside the blocks (embeddings, final norm, head). */
  blockParams: number;
  otherParams: number;
  /** Floats per token one block keeps for backward (the memory estimate). */
  savedPerToken: number;
  /** The largest parameter (each must fit one storage binding). */
  largestTensor: { name: string; bytes: number };
  positions: number;
  vocab: number;
  params: number;
  /** Floats per token of the model's widest activation (the batch must fit the adapter's binding limit). */
  widestActivation: number;
  dtype: string;
  bytes: number;
  /** 'file' = dropped by the user; 'demo' = trained in the page. */
  origin: 'file' | 'demo';
}

export interface CorpusInfo {
  label: string;
  /** The tokenizer the counts below are in (the reference's; GPT-2's BPE before one is loaded). */
  tokenizer: string;
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
  /** The reference as the page showed it (kept for showing it again after a reload). */
  refInfo?: ReferenceInfo;
}

/** One point of a chart series, tagged with where it came from. `x` is the update count along its phase. */
export interface MetricPoint {
  phase: 'reference' | 'inheritune' | 'baseline';
  round: number;
  n: number;
  /** A baseline's kind (its points share the phase; each kind is its own run on the comparison charts). */
  run?: BaselineKind;
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
      /** Updates this round trains (NaN where an old log did not say). */
      stepsPerRound: number;
      /** A baseline round's kind. */
      kind?: BaselineKind;
    }
  | { type: 'round-end'; result: RoundResult }
  | { type: 'grow'; from: number; to: number; mode: GrowMode }
  | { type: 'report'; report: RunReport }
  | { type: 'snapshot'; step: number; savedAt: string }
  | { type: 'kernel-times'; times: KernelTime[] }
  | { type: 'sample'; text: string; done: boolean }
  | { type: 'export'; files: { name: string; blob: Blob }[] }
  | { type: 'saved'; saved: SavedRunInfo | null }
  /** Which model Sample and Export would use now (null: none yet), and whether a run log exists to export. */
  | { type: 'models'; current: string | null; log: boolean }
  | { type: 'error'; scope: ErrorScope; code: ErrorCode; message: string };
