// Learning-rate schedules, as functions of the 0-based update index: linear warmup, then cosine to min_lr
// (nanoGPT's form) or linear decay to exactly zero at the last update (D2Z).

export interface Schedule {
  kind: 'cosine' | 'd2z';
  /** Peak learning rate. */
  lr: number;
  warmup: number;
  /** Updates in the run (or round). */
  total: number;
  /** Floor of the cosine; ignored by D2Z. */
  minLr?: number;
}

export function validateSchedule(s: Schedule): void {
  if (!(s.lr > 0) || !Number.isFinite(s.lr)) throw new Error(`learning rate must be a positive number, got ${s.lr}`);
  if (!Number.isInteger(s.total) || s.total < 1) throw new Error(`a schedule needs at least one step, got ${s.total}`);
  if (!Number.isInteger(s.warmup) || s.warmup < 0 || s.warmup >= s.total)
    throw new Error(`warmup must be an integer from 0 to ${s.total - 1} (steps − 1), got ${s.warmup}`);
  if (s.minLr !== undefined && !(s.minLr >= 0 && s.minLr <= s.lr))
    throw new Error(`min_lr must be from 0 to lr ${s.lr}, got ${s.minLr}`);
}

/** Learning rate of update `step` (0 … total−1). */
export function lrAt(s: Schedule, step: number): number {
  if (!Number.isInteger(step) || step < 0 || step >= s.total)
    throw new Error(`step ${step} is outside the schedule's 0…${s.total - 1}`);
  if (step < s.warmup) return (s.lr * (step + 1)) / (s.warmup + 1);
  if (s.kind === 'd2z') {
    // Reaches exactly 0 on the last update: (total − 1 − step) is 0 there.
    const span = s.total - 1 - s.warmup;
    return span === 0 ? 0 : (s.lr * (s.total - 1 - step)) / span;
  }
  const minLr = s.minLr ?? s.lr / 10;
  const ratio = (step - s.warmup) / Math.max(1, s.total - s.warmup);
  return minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (s.lr - minLr);
}
