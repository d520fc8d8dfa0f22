// The one schema of run settings (DESIGN.md house style 11): every field's label, CLI flag, help, default and limits,
// and the rules across fields and against the loaded reference, corpus and adapter, each with its message. The run
// form shows these messages beside its fields, the worker refuses a start with them, and the CLI exits with them: the
// same bad settings are refused with the same words everywhere. Pure: no GPU code, so the page imports it.

import type { BufferLimits } from '../gpu/limits';
import {
  BASELINE_HELP,
  BASELINE_KINDS,
  type BaselineKind,
  INHERIT_PARTS,
  type InheritParts,
  KD_DEFAULTS,
} from '../inheritune/baseline-kinds';
import { maxWindows } from '../io/corpus';
import { defaultN, inheritNProblem } from '../inheritune/plan';
import { batchFitProblem } from './fit';

export type GrowMode = 'restart' | 'continue';
export type OptimizerKind = 'adamw' | 'muon';
export type ScheduleKind = 'cosine' | 'd2z';

/** How a model trains: the fields `inheritune run`, `inheritune train` and the run form share. */
export interface TrainingSettings {
  optimizer: OptimizerKind;
  schedule: ScheduleKind;
  /** Peak learning rate (AdamW; with Muon, for the tensors Muon does not own). */
  lr: number;
  /** The cosine's floor; null: lr / 10. */
  minLr: number | null;
  /** Muon's own peak learning rate (Muon only). */
  muonLr: number;
  warmup: number;
  batch: number;
  ctx: number;
  accum: number;
  /** Evaluate every this many updates (0: at each round's end only). */
  evalEvery: number;
  evalWindows: number;
  seed: number;
  /** Keep the activations backward reads at the blocks' matmul inputs as f16. */
  halfActivations: boolean;
  /** fp32, or f16-mixed (f32 masters, f16 matmul operands, f32 accumulation, dynamic loss scaling). */
  precision: 'fp32' | 'f16-mixed';
  /** Snapshot every this many updates (0: at round ends and on pause only). */
  checkpointEvery: number;
  /** User peak in TFLOP/s for MFU; null = the device table or the measured roofline. */
  peakTflops: number | null;
}

/** What the user sets before an Inheritune run (the form, `inheritune run`). */
export interface RunSettings extends TrainingSettings {
  /** Blocks inherited in the first round. */
  n: number;
  stepsPerRound: number;
  grow: GrowMode;
  /** Baselines trained after the rounds, for the comparison (none by default). */
  compare: BaselineKind[];
  /** The inheritance ablation: which sub-modules of the inherited blocks come from the reference. */
  inherit: InheritParts;
  /** With a partial `inherit`, the blocks' norms are inherited too. */
  inheritNorms: boolean;
  /** The kd baselines' weight of cross-entropy (the rest on τ²·KL) and their temperature. */
  kdAlpha: number;
  kdTau: number;
  /** kd-hidden's weight of the cosine term between hidden states. */
  kdBeta: number;
  paperCode: boolean;
}

/** What the settings are checked against; each part absent until known (its rules are then skipped). */
export interface SettingsContext {
  reference?: {
    layers: number;
    positions: number;
    /** Floats per token of the model's widest activation (its family's widestActivation). */
    widestActivation: number;
    /** Names the model in messages: "the reference", "the demo reference". */
    label?: string;
  };
  corpus?: { train: number; val: number };
  /** The adapter's buffer limits (the batch must fit them). */
  limits?: BufferLimits | null;
}

type Kind =
  | { type: 'int'; min: number; max?: number }
  | { type: 'number'; positive?: boolean; min?: number; max?: number }
  | { type: 'choice'; values: readonly string[]; names?: readonly string[] }
  /** Any of `values`, each at most once (the CLI takes them comma-separated). */
  | { type: 'set'; values: readonly string[] }
  | { type: 'bool' };

export interface FieldSpec {
  /** The words a message starts with ("learning rate must be …"). */
  label: string;
  /** The CLI flag, without dashes. */
  flag: string;
  /** What it does (the form's tooltip, the CLI's help). */
  help: string;
  kind: Kind;
  /** null allowed (an empty field: the default it describes). */
  nullable?: boolean;
}

const MAX_SEED = 2 ** 31 - 1;

export const TRAINING_FIELDS: Record<keyof TrainingSettings, FieldSpec> = {
  optimizer: {
    label: 'optimizer',
    flag: 'optimizer',
    help: 'AdamW, or Muon for the hidden matrices with AdamW for the rest',
    kind: { type: 'choice', values: ['adamw', 'muon'], names: ['AdamW', 'Muon'] },
  },
  schedule: {
    label: 'schedule',
    flag: 'schedule',
    help: 'cosine: warmup then cosine to the minimum learning rate; d2z: warmup then linear decay to zero',
    kind: { type: 'choice', values: ['cosine', 'd2z'] },
  },
  lr: {
    label: 'learning rate',
    flag: 'lr',
    help: 'Peak learning rate (AdamW; with Muon, for embeddings, norms and biases)',
    kind: { type: 'number', positive: true },
  },
  minLr: {
    label: 'minimum learning rate',
    flag: 'min-lr',
    help: "The cosine's floor (empty: a tenth of the learning rate)",
    kind: { type: 'number', min: 0 },
    nullable: true,
  },
  muonLr: {
    label: 'Muon learning rate',
    flag: 'muon-lr',
    help: "Muon's peak learning rate for the hidden matrices",
    kind: { type: 'number', positive: true },
  },
  warmup: {
    label: 'warmup',
    flag: 'warmup',
    help: 'Linear warmup updates at the start of each round',
    kind: { type: 'int', min: 0 },
  },
  batch: { label: 'batch', flag: 'batch', help: 'Sequences per micro-batch (B)', kind: { type: 'int', min: 1 } },
  ctx: {
    label: 'context',
    flag: 'ctx',
    help: 'Tokens per sequence (T); the reference val loss is measured at this length too',
    kind: { type: 'int', min: 1 },
  },
  accum: {
    label: 'accumulation',
    flag: 'accum',
    help: 'Micro-batches accumulated per update',
    kind: { type: 'int', min: 1, max: 4096 },
  },
  evalEvery: {
    label: 'eval every',
    flag: 'eval-every',
    help: 'Validate every this many updates (0: only at round ends)',
    kind: { type: 'int', min: 0 },
  },
  evalWindows: {
    label: 'validation windows',
    flag: 'windows',
    help: 'Validation windows of ctx+1 tokens (the same for the reference and every model)',
    kind: { type: 'int', min: 1 },
  },
  seed: {
    label: 'seed',
    flag: 'seed',
    help: 'Seeds batches and random init',
    kind: { type: 'int', min: 0, max: MAX_SEED },
  },
  halfActivations: {
    label: 'f16 activations',
    flag: 'half-activations',
    help: 'Keep the activations backward reads at the matmul inputs as f16: less GPU memory per token, so a larger batch fits; weights, gradients, optimizer and validation stay f32 (loss moves by ~1e-4 relative)',
    kind: { type: 'bool' },
  },
  precision: {
    label: 'precision',
    flag: 'precision',
    help: "fp32, or f16-mixed: f32 master weights, moments and validation; the blocks' matmuls take f16 weight copies (rewritten by the optimizer at each update) and f16 activations and output gradients, accumulating in f32; the head multiplies a padded f16 copy of its matrix and halves of the final norm and of dlogits; norms, softmax, attention and cross-entropy's sums stay f32; dynamic loss scaling (from 2^16) guards the half gradients. Where the device has f16 subgroup matrices (NVIDIA with --tensor-cores, Apple in Chrome with unsafe WebGPU) these products run on tensor cores and MFU is against the FP16 tensor peak; elsewhere on the FP32 kernels (halves widened exactly), no faster than fp32. It saves f16 activations' memory and costs 2 bytes per parameter for the copies",
    kind: { type: 'choice', values: ['fp32', 'f16-mixed'] },
  },
  checkpointEvery: {
    label: 'snapshot every',
    flag: 'checkpoint-every',
    help: 'Save a resumable snapshot every this many updates (0: round ends and pauses only)',
    kind: { type: 'int', min: 0 },
  },
  peakTflops: {
    label: 'peak TFLOP/s',
    flag: 'peak-tflops',
    help: "Your GPU's peak for MFU (empty: the device table, else a measured matmul roofline)",
    kind: { type: 'number', positive: true },
    nullable: true,
  },
};

export const RUN_FIELDS: Record<keyof RunSettings, FieldSpec> = {
  n: {
    label: 'n',
    flag: 'n',
    help: 'Blocks inherited in the first round; each later round adds 2',
    kind: { type: 'int', min: 1 },
  },
  stepsPerRound: {
    label: 'steps per round',
    flag: 'steps-per-round',
    help: 'Updates trained in every round (the schedule restarts per round)',
    kind: { type: 'int', min: 1 },
  },
  grow: {
    label: 'grow mode',
    flag: 'grow',
    help: 'restart: re-inherit n+2 blocks from the reference (the paper); continue: keep the trained model, append 2 blocks',
    kind: { type: 'choice', values: ['restart', 'continue'] },
  },
  compare: {
    label: 'compare',
    flag: 'compare',
    help: `Baselines trained after the Inheritune rounds on S = the rounds' updates together (the paper's comparisons): ${BASELINE_KINDS.map((k) => `${k}: ${BASELINE_HELP[k]}`).join('; ')}`,
    kind: { type: 'set', values: BASELINE_KINDS },
  },
  inherit: {
    label: 'inherit',
    flag: 'inherit',
    help: "Which sub-modules of the inherited blocks come from the reference, the rest from random init (the paper's ablation): all (every tensor of the blocks), attn+mlp, attn or mlp (their norms too with inherit norms); embeddings, final norm and head are inherited in every case",
    kind: { type: 'choice', values: INHERIT_PARTS },
  },
  kdAlpha: {
    label: 'kd α',
    flag: 'kd-alpha',
    help: "The kd baselines' weight of cross-entropy on the data; 1 − α goes to τ²·KL from the reference's softened logits (Hinton et al. 2015)",
    kind: { type: 'number', min: 0, max: 1 },
  },
  kdTau: {
    label: 'kd τ',
    flag: 'kd-tau',
    help: "The kd baselines' temperature τ: both models' logits are divided by it before the KL term",
    kind: { type: 'number', positive: true },
  },
  kdBeta: {
    label: 'kd β',
    flag: 'kd-beta',
    help: "kd-hidden's weight β of the cosine loss: β·mean over the student's blocks of 1 − cos(its block output, the reference's at the matched block), added to kd's loss (DistilBERT, Sanh et al. 2019)",
    kind: { type: 'number', min: 0 },
  },
  inheritNorms: {
    label: 'inherit norms',
    flag: 'inherit-norms',
    help: "With inherit attn+mlp, attn or mlp: inherit the blocks' norms too (all always does)",
    kind: { type: 'bool' },
  },
  paperCode: {
    label: 'paper code',
    flag: 'paper-code',
    help: "Leave the tensors the authors' code leaves at init (GPT-2: the position table and final norm) random",
    kind: { type: 'bool' },
  },
  ...TRAINING_FIELDS,
};

/** The default warmup for a round of `steps` updates: a tenth of it, at most 100. */
export const defaultWarmup = (steps: number): number => Math.min(Math.floor(steps / 10), 100);

/** The default validation windows for a context: 20, or as many as fit the validation split (at least 1). */
export function defaultWindows(val: number | undefined, ctx: number): number {
  if (val === undefined || !Number.isInteger(ctx) || ctx < 1) return 20;
  return Math.max(1, Math.min(20, maxWindows(val, ctx)));
}

/** Defaults; where the reference or corpus is known, n, the context and the windows fit them. */
export function defaultRunSettings(ctx: SettingsContext = {}): RunSettings {
  const positions = ctx.reference?.positions ?? Number.POSITIVE_INFINITY;
  const seqLen = Math.min(positions, 128);
  const windows = defaultWindows(ctx.corpus?.val, seqLen);
  const stepsPerRound = 200;
  return {
    n: ctx.reference ? defaultN(ctx.reference.layers) : 4,
    stepsPerRound,
    grow: 'restart',
    compare: [],
    inherit: 'all',
    inheritNorms: false,
    kdAlpha: KD_DEFAULTS.alpha,
    kdTau: KD_DEFAULTS.tau,
    kdBeta: KD_DEFAULTS.beta,
    paperCode: false,
    optimizer: 'adamw',
    schedule: 'cosine',
    lr: 1e-3,
    minLr: null,
    muonLr: 0.02,
    warmup: defaultWarmup(stepsPerRound),
    batch: 8,
    ctx: seqLen,
    accum: 1,
    evalEvery: 50,
    evalWindows: windows,
    seed: 1,
    halfActivations: false,
    precision: 'fp32',
    checkpointEvery: 50,
    peakTflops: null,
  };
}

/** One refusal: the field it belongs to and the whole sentence. */
export interface SettingsIssue {
  field: string;
  message: string;
}

const got = (v: unknown): string =>
  typeof v === 'string'
    ? JSON.stringify(v)
    : typeof v === 'number' && Number.isFinite(v)
      ? String(v)
      : typeof v === 'boolean'
        ? String(v)
        : 'nothing';

/** A field's own rule (its kind and limits) against a value; `max` narrows the kind's limit, with its reason. */
export function fieldProblem(spec: FieldSpec, v: unknown, max?: { value: number; why: string }): string | null {
  const k = spec.kind;
  if (v === null && spec.nullable) return null;
  switch (k.type) {
    case 'int': {
      const hi = Math.min(k.max ?? Number.MAX_SAFE_INTEGER, max?.value ?? Number.MAX_SAFE_INTEGER);
      const why = max && max.value <= (k.max ?? Number.MAX_SAFE_INTEGER) ? ` (${max.why})` : '';
      if (typeof v === 'number' && Number.isInteger(v) && v >= k.min && v <= hi) return null;
      const range = hi < Number.MAX_SAFE_INTEGER ? `from ${k.min} to ${hi}${why}` : `≥ ${k.min}`;
      if (hi < k.min) return `cannot be chosen: no whole number from ${k.min} to ${hi}${why} exists`;
      return `must be a whole number ${range}, got ${got(v)}`;
    }
    case 'number': {
      const ok = typeof v === 'number' && Number.isFinite(v);
      if (k.positive && !(ok && (v as number) > 0)) return `must be a positive number, got ${got(v)}`;
      if (k.min !== undefined && k.max !== undefined && !(ok && (v as number) >= k.min && (v as number) <= k.max))
        return `must be a number from ${k.min} to ${k.max}, got ${got(v)}`;
      if (k.min !== undefined && !(ok && (v as number) >= k.min)) return `must be a number ≥ ${k.min}, got ${got(v)}`;
      return ok ? null : `must be a number, got ${got(v)}`;
    }
    case 'choice': {
      if (typeof v === 'string' && k.values.includes(v)) return null;
      const names = k.values.map((x, i) => k.names?.[i] ?? x);
      return `must be ${names.slice(0, -1).join(', ')} or ${names.at(-1)}, got ${got(v)}`;
    }
    case 'set': {
      const list = k.values.join(', ');
      if (!Array.isArray(v)) return `must be a list of ${list}, got ${got(v)}`;
      const unknown = v.find((x) => typeof x !== 'string' || !k.values.includes(x));
      if (unknown !== undefined) return `has no ${got(unknown)}: the choices are ${list}`;
      const twice = v.find((x, i) => v.indexOf(x) !== i);
      if (twice !== undefined) return `names ${got(twice)} twice`;
      return null;
    }
    case 'bool':
      return typeof v === 'boolean' ? null : `must be true or false, got ${got(v)}`;
  }
}

/**
 * The training fields' problems, for rounds (or a run) of `steps` updates: each field's own rule, then the rules
 * across fields and against the context.
 */
export function checkTraining(s: TrainingSettings, steps: number, ctx: SettingsContext = {}): SettingsIssue[] {
  const issues: SettingsIssue[] = [];
  const bad = new Set<string>();
  const add = (field: keyof TrainingSettings, problem: string | null) => {
    if (!problem || bad.has(field)) return;
    bad.add(field);
    issues.push({ field, message: `${TRAINING_FIELDS[field].label} ${problem}` });
  };
  const ref = ctx.reference;
  const model = ref?.label ?? 'the reference';
  for (const field of Object.keys(TRAINING_FIELDS) as (keyof TrainingSettings)[]) {
    if (field === 'muonLr' && s.optimizer !== 'muon') continue;
    let max: { value: number; why: string } | undefined;
    if (field === 'warmup' && Number.isInteger(steps) && steps >= 1)
      max = { value: steps - 1, why: 'shorter than a round' };
    if (field === 'ctx' && ref) max = { value: ref.positions, why: `${model}'s positions` };
    add(field, fieldProblem(TRAINING_FIELDS[field], s[field], max));
  }
  if (!bad.has('minLr') && !bad.has('lr') && s.minLr !== null && s.minLr > s.lr)
    add('minLr', `must not exceed the learning rate ${s.lr}, got ${s.minLr}`);
  const c = ctx.corpus;
  if (c && !bad.has('ctx')) {
    const fit = maxWindows(c.val, s.ctx);
    if (fit < 1)
      add(
        'ctx',
        `${s.ctx} is too long for this corpus: its validation split (last 10%) has ${c.val} tokens, and one window of ${s.ctx} tokens needs ${s.ctx + 1}`,
      );
    else if (s.ctx + 1 > c.train)
      add('ctx', `must be shorter than the training split (${c.train} tokens), got ${s.ctx}`);
    else if (!bad.has('evalWindows') && s.evalWindows > fit)
      add(
        'evalWindows',
        `must be a whole number from 1 to ${fit} (the windows of ${s.ctx} tokens that fit in the validation split), got ${s.evalWindows}`,
      );
  }
  if (ref && ctx.limits && !bad.has('batch') && !bad.has('ctx')) {
    const fit = batchFitProblem(ref.widestActivation, s.batch, s.ctx, ctx.limits);
    if (fit) issues.push({ field: 'batch', message: fit });
  }
  return issues;
}

/** Every problem with a run's settings, in the order of the fields. */
export function checkRunSettings(s: RunSettings, ctx: SettingsContext = {}): SettingsIssue[] {
  const issues: SettingsIssue[] = [];
  const add = (field: keyof RunSettings, problem: string | null) => {
    if (problem) issues.push({ field, message: `${RUN_FIELDS[field].label} ${problem}` });
  };
  // Against a reference, n's rule is Inheritune's (it names the blocks there are); before one, the field's own.
  add('n', ctx.reference ? inheritNProblem(s.n, ctx.reference.layers) : fieldProblem(RUN_FIELDS.n, s.n));
  for (const field of [
    'stepsPerRound',
    'grow',
    'compare',
    'inherit',
    'inheritNorms',
    'kdAlpha',
    'kdTau',
    'kdBeta',
    'paperCode',
  ] as const)
    add(field, fieldProblem(RUN_FIELDS[field], s[field]));
  return [...issues, ...checkTraining(s, s.stepsPerRound, ctx)];
}

/** The field → message map the form shows (the first problem of each field). */
export function issuesByField(issues: readonly SettingsIssue[]): Partial<Record<string, string>> {
  const out: Partial<Record<string, string>> = {};
  for (const i of issues) out[i.field] ??= i.message;
  return out;
}

/** A refused setting, as an error the worker and the CLI raise (its message is the schema's). */
export class SettingsError extends Error {
  constructor(readonly issue: SettingsIssue) {
    super(issue.message);
    this.name = 'SettingsError';
  }
}

/** Throws the first problem as a SettingsError. */
export function assertValid(issues: readonly SettingsIssue[]): void {
  if (issues[0]) throw new SettingsError(issues[0]);
}
