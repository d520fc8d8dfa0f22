// The Inheritune recipe's decisions as pure functions (DESIGN.md "Grow"): where a run stands, what follows a finished
// round (grow by two, train the baseline, or stop), and the report; and the run's state and events as data. No GPU,
// no I/O: the pipeline carries them out.

import type { TrainEvent, TrainSettings } from '../train/trainer';
import type { InputPrints } from './inputs';

export type GrowMode = 'restart' | 'continue';
export type Phase = 'inheritune' | 'baseline';

export interface InherituneSettings {
  /** Blocks inherited in the first round. */
  n: number;
  stepsPerRound: number;
  grow: GrowMode;
  /** Leave the tensors the family's authors' code leaves at init (e.g. GPT-2's position table and final norm). */
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

/** The round under way; valLossStart is null until its opening evaluation ran (snapshots are JSON: NaN is no placeholder). */
export interface CurrentRound {
  phase: Phase;
  round: number;
  n: number;
  valLossStart: number | null;
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

/** What the decisions read: the settings, the reference, and the rounds finished so far. */
export interface RoundsState {
  settings: InherituneSettings;
  reference: RunReport['reference'];
  rounds: RoundResult[];
}

/** What follows a finished round. */
export type NextRound =
  | { kind: 'grow'; from: number; to: number; mode: GrowMode }
  | { kind: 'baseline'; n: number; steps: number }
  | { kind: 'done' };

/** A round about to start, its opening evaluation not yet made. */
export function roundAt(phase: Phase, round: number, n: number): CurrentRound {
  return { phase, round, n, valLossStart: null };
}

/** The Inheritune rounds among the finished ones (not the baseline). */
export function inherituneRounds(state: Pick<RoundsState, 'rounds'>): RoundResult[] {
  return state.rounds.filter((r) => r.phase === 'inheritune');
}

/**
 * After `result` (already in state.rounds): grow by two blocks (one when only one is left) while the validation loss
 * is above the reference's and blocks remain; once the Inheritune rounds end, train the baseline at the grown size for
 * as many updates as they took together, if asked; else the run is done.
 */
export function nextRound(state: RoundsState, result: RoundResult): NextRound {
  const s = state.settings;
  const k = state.reference.layers;
  if (result.phase === 'inheritune') {
    if (result.valLoss > state.reference.valLoss && result.n < k)
      return { kind: 'grow', from: result.n, to: Math.min(result.n + 2, k), mode: s.grow };
    if (s.baseline) {
      const steps = inherituneRounds(state).reduce((a, r) => a + r.steps, 0);
      return { kind: 'baseline', n: result.n, steps };
    }
  }
  return { kind: 'done' };
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
    baseline: state.rounds.find((r) => r.phase === 'baseline') ?? null,
    final: last
      ? { n: last.n, params: last.params, valLoss: last.valLoss, matched: last.valLoss <= state.reference.valLoss }
      : null,
    status,
    ...(status === 'halted' && halt ? { halt } : {}),
  };
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
