// The Inheritune recipe's decisions as pure functions (DESIGN.md "Grow"): where a run stands, what follows a finished
// round (grow by two, train the baseline, or stop), and the report; and the run's state and events as data. No GPU,
// no I/O: the pipeline carries them out.

import type { Downstream } from '../train/downstream';
import type { TrainEvent, TrainSettings } from '../train/trainer';
import { type BaselineKind, type BaselineStage, baselineStages, type InheritParts } from './baseline-kinds';
import type { InputPrints } from './inputs';

export type { BaselineKind, InheritParts };

export type GrowMode = 'restart' | 'continue';
export type Phase = 'inheritune' | 'baseline';

export interface InherituneSettings {
  /** Blocks inherited in the first round. */
  n: number;
  stepsPerRound: number;
  grow: GrowMode;
  /** Leave the tensors the family's authors' code leaves at init (e.g. GPT-2's position table and final norm). */
  paperCode: boolean;
  /** Legacy (snapshots before `compare`): true asks for the scratch baseline. */
  baseline?: boolean;
  /** The baselines trained after the Inheritune rounds (baselines.ts), in BASELINE_KINDS order; absent: none. */
  compare?: BaselineKind[];
  /** Which sub-modules of the inherited blocks come from the reference (the rest from init); absent: all. */
  inherit?: InheritParts;
  /** With a partial `inherit`: the blocks' norms are inherited too (absent: false; `all` always takes them). */
  inheritNorms?: boolean;
  /** The kd baselines' weight of cross-entropy α, temperature τ and kd-hidden's β (absent: KD_DEFAULTS). */
  kd?: { alpha: number; tau: number; beta?: number };
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
  /** A baseline round's kind, and its stage among the kind's stages (0 unless the kind has several). */
  kind?: BaselineKind;
  stage?: number;
  /** The model's hidden width (absent in snapshots of older versions). */
  width?: number;
  params: number;
  steps: number;
  /** Training FLOPs of the round (DESIGN.md's 6N + 12·L·H·D·T per token, times its tokens); absent in older snapshots. */
  flops?: number;
  /** Tokens trained on (updates × batch × context × accumulation); absent in older snapshots. */
  tokens?: number;
  /** Zero-shot scores of the round's final model on the validation windows (absent without a tokenizer, or older). */
  downstream?: Downstream;
  valLossStart: number;
  valLoss: number;
  seconds: number;
}

/** The round under way; valLossStart is null until its opening evaluation ran (snapshots are JSON: NaN is no placeholder). */
export interface CurrentRound {
  phase: Phase;
  round: number;
  n: number;
  valLossStart: number | null;
  kind?: BaselineKind;
  stage?: number;
}

/** One row of the comparison table: Inheritune's rounds together, or a baseline's stages together. */
export interface ComparisonRow {
  kind: 'inheritune' | BaselineKind;
  layers: number;
  width: number | null;
  params: number;
  steps: number;
  tokens: number | null;
  flops: number | null;
  valLoss: number;
  /** Its final validation loss minus the reference's. */
  gap: number;
  seconds: number;
  /** Its final model's downstream scores (train/downstream.ts), null where not measured. */
  top1: number | null;
  lastWord: number | null;
  lastWordLogp: number | null;
}

export interface RunReport {
  reference: { layers: number; params: number; valLoss: number; downstream?: Downstream };
  ctx: number;
  windows: number;
  rounds: RoundResult[];
  /** The scratch baseline's round (also a row of `comparison`). */
  baseline: RoundResult | null;
  /** Every baseline round, in the order trained (a stacked kind has two). */
  baselines: RoundResult[];
  /** Inheritune, then each finished baseline kind: the paper's table. */
  comparison: ComparisonRow[];
  final: { n: number; params: number; valLoss: number; matched: boolean } | null;
  status: 'done' | 'stopped' | 'halted';
  /** Why a halted run stopped: the non-finite step, and whether the one rollback was already spent. */
  halt?: { step: number; reason: string; rollbacks: number };
}

/** What the decisions read: the settings, the reference, and the rounds finished so far. */
export interface RoundsState {
  settings: InherituneSettings;
  reference: RunReport['reference'];
  rounds: RoundResult[];
}

/** What follows a finished round. */
export type NextRound =
  | { kind: 'grow'; from: number; to: number; mode: GrowMode }
  | { kind: 'baseline'; baseline: BaselineKind; stage: number; plan: BaselineStage }
  | { kind: 'done' };

/** A round about to start, its opening evaluation not yet made. */
export function roundAt(
  phase: Phase,
  round: number,
  n: number,
  b?: { kind: BaselineKind; stage: number },
): CurrentRound {
  return { phase, round, n, valLossStart: null, ...(b ? { kind: b.kind, stage: b.stage } : {}) };
}

/** The baselines a run trains (its `compare`, or the legacy `baseline` flag's scratch). */
export function baselineKinds(s: Pick<InherituneSettings, 'compare' | 'baseline'>): BaselineKind[] {
  return s.compare ?? (s.baseline ? ['scratch'] : []);
}

/** A baseline round's kind (rounds of older snapshots were all scratch). */
export const kindOf = (r: Pick<RoundResult, 'kind'>): BaselineKind => r.kind ?? 'scratch';

/** The Inheritune rounds among the finished ones (not the baseline). */
export function inherituneRounds(state: Pick<RoundsState, 'rounds'>): RoundResult[] {
  return state.rounds.filter((r) => r.phase === 'inheritune');
}

/**
 * After `result` (already in state.rounds): grow by two blocks (one when only one is left) while the validation loss
 * is above the reference's and blocks remain; once the Inheritune rounds end, each baseline asked for, stage by stage
 * (baselines.ts: at the grown size n, on a budget of S = the updates the rounds took together); then the run is done.
 */
export function nextRound(state: RoundsState, result: RoundResult): NextRound {
  const s = state.settings;
  const k = state.reference.layers;
  if (result.phase === 'inheritune' && result.valLoss > state.reference.valLoss && result.n < k)
    return { kind: 'grow', from: result.n, to: Math.min(result.n + 2, k), mode: s.grow };
  const rounds = inherituneRounds(state);
  const grown = rounds.at(-1);
  if (!grown) return { kind: 'done' };
  const S = rounds.reduce((a, r) => a + r.steps, 0);
  const kinds = baselineKinds(s);
  let at = 0;
  let stage = 0;
  if (result.phase === 'baseline') {
    const kind = kindOf(result);
    const done = result.stage ?? 0;
    if (done + 1 < baselineStages(kind, grown.n, k, S).length) [at, stage] = [kinds.indexOf(kind), done + 1];
    else at = kinds.indexOf(kind) + 1;
  }
  const next = kinds[at];
  if (next === undefined) return { kind: 'done' };
  return { kind: 'baseline', baseline: next, stage, plan: baselineStages(next, grown.n, k, S)[stage]! };
}

/** Inheritune's rounds, and each baseline kind whose last stage has finished, as rows of the paper's table. */
export function comparisonRows(state: RoundsState): ComparisonRow[] {
  const refLoss = state.reference.valLoss;
  const row = (kind: ComparisonRow['kind'], rs: RoundResult[]): ComparisonRow => {
    const last = rs.at(-1)!;
    const sum = (f: (r: RoundResult) => number | undefined) =>
      rs.every((r) => f(r) !== undefined) ? rs.reduce((a, r) => a + f(r)!, 0) : null;
    return {
      kind,
      layers: last.n,
      width: last.width ?? null,
      params: last.params,
      steps: sum((r) => r.steps)!,
      tokens: sum((r) => r.tokens),
      flops: sum((r) => r.flops),
      valLoss: last.valLoss,
      gap: last.valLoss - refLoss,
      seconds: sum((r) => r.seconds)!,
      top1: last.downstream?.top1 ?? null,
      lastWord: last.downstream?.lastWord ?? null,
      lastWordLogp: last.downstream?.lastWordLogp ?? null,
    };
  };
  const rounds = inherituneRounds(state);
  if (!rounds.length) return [];
  const out = [row('inheritune', rounds)];
  const k = state.reference.layers;
  const S = rounds.reduce((a, r) => a + r.steps, 0);
  for (const kind of baselineKinds(state.settings)) {
    const rs = state.rounds.filter((r) => r.phase === 'baseline' && kindOf(r) === kind);
    if (rs.length && rs.length === baselineStages(kind, rounds.at(-1)!.n, k, S).length) out.push(row(kind, rs));
  }
  return out;
}

/** The run's report as it stands. */
export function runReport(state: RoundsState, status: RunReport['status'], halt?: RunReport['halt']): RunReport {
  const s = state.settings;
  const rounds = inherituneRounds(state);
  const last = rounds.at(-1);
  return {
    reference: state.reference,
    ctx: s.train.ctx,
    windows: s.train.evalWindows,
    rounds,
    baseline: state.rounds.find((r) => r.phase === 'baseline' && kindOf(r) === 'scratch') ?? null,
    baselines: state.rounds.filter((r) => r.phase === 'baseline'),
    comparison: comparisonRows(state),
    final: last
      ? { n: last.n, params: last.params, valLoss: last.valLoss, matched: last.valLoss <= state.reference.valLoss }
      : null,
    status,
    ...(status === 'halted' && halt ? { halt } : {}),
  };
}

export type PipelineEvent =
  | { type: 'reference'; layers: number; params: number; valLoss: number; downstream?: Downstream }
  | {
      type: 'round-start';
      phase: Phase;
      round: number;
      n: number;
      params: number;
      valLoss: number;
      resumed: boolean;
      /** Updates this round trains. */
      steps: number;
      /** Updates its run trained before it (Inheritune's earlier rounds; a baseline kind's earlier stages). */
      origin: number;
      /** A baseline round's kind and stage. */
      kind?: BaselineKind;
      stage?: number;
    }
  | (TrainEvent & { phase: Phase; round: number })
  | { type: 'round-end'; result: RoundResult }
  | { type: 'grow'; from: number; to: number; mode: GrowMode }
  | { type: 'snapshot'; phase: Phase; round: number; step: number }
  /** A non-finite step was discarded and the run went back to its last snapshot, with the learning rate scaled. */
  | { type: 'rollback'; phase: Phase; round: number; fromStep: number; toStep: number; lrScale: number; reason: string }
  | { type: 'report'; report: RunReport };

/** What a snapshot carries besides the trainer: where the pipeline stands. */
export interface PipelineState extends RoundsState {
  /** The round under way (its first snapshot is taken before its opening evaluation). */
  current: CurrentRound;
  /** Learning-rate multiplier (halved by a rollback) and rollbacks taken; absent means 1 and 0. */
  lrScale?: number;
  rollbacks?: number;
  /** This run kept the grown model in the run folder (before its baseline); a file there without it is another run's. */
  finalSaved?: boolean;
  /** The run has ended (its last snapshot): resuming it reports again and trains nothing. */
  done?: boolean;
  /** Fingerprints of the reference and the tokens the run was started with (absent in older snapshots). */
  inputs?: InputPrints;
}

/** The comparison table's columns, as comparisonCsv writes them. */
export const COMPARISON_COLUMNS = [
  'kind',
  'layers',
  'width',
  'params',
  'steps',
  'tokens',
  'flops',
  'val_loss',
  'gap_to_reference',
  'seconds',
  'top1',
  'last_word',
  'last_word_logp',
] as const;

/** The comparison as CSV: a header, the reference's row (its training unknown), a row per run; empty cells unknown. */
export function comparisonCsv(report: Pick<RunReport, 'reference' | 'comparison'>): string {
  const cell = (v: number | string | null) => (v === null ? '' : String(v));
  const ref = report.reference;
  const d = ref.downstream;
  const rows: (number | string | null)[][] = [
    [
      'reference',
      ref.layers,
      null,
      ref.params,
      null,
      null,
      null,
      ref.valLoss,
      0,
      null,
      d?.top1 ?? null,
      d?.lastWord ?? null,
      d?.lastWordLogp ?? null,
    ],
    ...report.comparison.map((r) => [
      r.kind,
      r.layers,
      r.width,
      r.params,
      r.steps,
      r.tokens,
      r.flops,
      r.valLoss,
      r.gap,
      r.seconds,
      r.top1,
      r.lastWord,
      r.lastWordLogp,
    ]),
  ];
  return `${[COMPARISON_COLUMNS.join(','), ...rows.map((r) => r.map(cell).join(','))].join('\n')}\n`;
}
