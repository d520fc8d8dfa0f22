// Where the run stands inside its round: the store keeps the latest update's x on the phase axis, and where the
// current round began on that axis with its size, so the step within the round is their gap.
// A round-start says its updates; one replayed from an older log's baseline says NaN: it trained as many updates as all
// Inheritune rounds together.

import type { AppState, Latest } from './store';

export interface RoundProgress {
  /** Updates done in this round (or in the demo reference's training). */
  step: number;
  /** Updates the round runs for (NaN when not known). */
  of: number;
}

export function roundSize(current: NonNullable<AppState['current']>, rounds: AppState['rounds']): number {
  if (Number.isFinite(current.stepsPerRound)) return current.stepsPerRound;
  if (current.phase === 'baseline')
    return rounds.filter((r) => r.phase === 'inheritune').reduce((a, r) => a + r.steps, 0) || NaN;
  return NaN;
}

export function roundProgress(
  latest: Latest | null,
  current: AppState['current'],
  rounds: AppState['rounds'],
  demoSteps: number,
): RoundProgress | null {
  if (!latest) return null;
  const done = latest.x + 1; // a step point is logged after its update
  if (latest.phase === 'reference')
    return { step: done, of: current?.phase === 'reference' ? current.stepsPerRound : demoSteps };
  if (!current || current.phase !== latest.phase) return null;
  const of = roundSize(current, rounds);
  const step = Math.max(0, done - current.x);
  return { step: Number.isFinite(of) ? Math.min(of, step) : step, of };
}
