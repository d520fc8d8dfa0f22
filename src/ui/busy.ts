// What the engine is doing outside a run, in words for a disabled button's reason. (What each run stage allows is the
// stage machine's, src/worker/stages.ts, shared with the worker.)

/**
 * What the engine is doing outside a run (an analysis, a peak measurement, loading), or null when it is free. Its
 * commands would be refused meanwhile.
 */
export function engineWork(engine: { task: string | null; loads: readonly string[] }): string | null {
  if (engine.task) return `the engine is ${engine.task}`;
  return engine.loads.length ? `loading the ${engine.loads.join(' and ')}` : null;
}
