// What each run stage allows: one table the buttons, the forms and the auto-analysis all read, so "can I start?"
// has one answer everywhere.

import type { Stage } from '../worker/protocol';

/** The worker is using the GPU for a run (or loading); a new run, a load or an analysis must wait. */
export function isBusy(stage: Stage): boolean {
  return stage === 'loading' || stage === 'demo-reference' || stage === 'running' || stage === 'pausing';
}

/** A run exists and holds state (busy or paused): its settings are fixed until it ends. */
export function holdsRun(stage: Stage): boolean {
  return isBusy(stage) || stage === 'paused';
}

/**
 * What the engine is doing outside a run (an analysis, a peak measurement, loading), as words for a disabled
 * button's reason, or null when it is free. Its commands would be refused meanwhile.
 */
export function engineWork(engine: { task: string | null; loads: readonly string[] }): string | null {
  if (engine.task) return `the engine is ${engine.task}`;
  return engine.loads.length ? `loading the ${engine.loads.join(' and ')}` : null;
}

/** The demo reference is saved only once trained, so it can be stopped but not paused. */
export const canPause = (stage: Stage): boolean => stage === 'running';
export const canStop = (stage: Stage): boolean =>
  stage === 'running' || stage === 'demo-reference' || stage === 'pausing' || stage === 'paused';

/** A run (or the demo reference's training) owns the GPU and its data: loading a new reference or corpus must wait.
 *  Loading is not one: the engine loads a checkpoint and a corpus side by side. */
export function runActive(stage: Stage): boolean {
  return stage === 'demo-reference' || stage === 'running' || stage === 'pausing' || stage === 'paused';
}
