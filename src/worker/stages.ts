// The run's stage machine, shared by the worker (which moves through it) and the page (whose buttons it enables): one
// table of which stage an action or an outcome leads to from each stage, and what each stage allows. Pure.

/**
 * idle: no run. demo-reference: the demo's reference trains. running: an Inheritune run trains. pausing: a pause or
 * stop was asked for and waits for the next update. paused: stopped after a snapshot, resumable. done / stopped /
 * halted: the run ended (finished, stopped for good, or failed).
 */
export type Stage = 'idle' | 'demo-reference' | 'running' | 'pausing' | 'paused' | 'done' | 'stopped' | 'halted';

/** What moves the machine: a user's action, or how a run ended. */
export type StageEvent =
  | 'start'
  | 'demo'
  | 'demo-trained'
  | 'pause'
  | 'stop'
  | 'resume'
  | 'ended:done'
  | 'ended:paused'
  | 'ended:stopped'
  | 'ended:halted';

/** The stages no run holds (a new run may start; inputs may change). */
const FREE: readonly Stage[] = ['idle', 'done', 'stopped', 'halted'];
/** The stages in which a run trains. */
const TRAINING: readonly Stage[] = ['demo-reference', 'running', 'pausing'];

/** The stage `event` leads to from `stage`, or null when the event is not allowed there. */
export function nextStage(stage: Stage, event: StageEvent): Stage | null {
  switch (event) {
    case 'start':
    case 'demo':
      // A paused run may be abandoned for a new one (its snapshot is replaced when the new run starts).
      return FREE.includes(stage) || stage === 'paused' ? (event === 'start' ? 'running' : 'demo-reference') : null;
    case 'demo-trained':
      return stage === 'demo-reference' || stage === 'pausing' ? 'running' : null;
    case 'pause':
      // The demo's reference is saved only once trained: it can be stopped, not paused.
      return stage === 'running' ? 'pausing' : null;
    case 'stop':
      if (stage === 'paused') return 'stopped';
      return TRAINING.includes(stage) ? 'pausing' : null;
    case 'resume':
      // After a reload the saved run resumes from idle (or from a finished or failed run of this tab).
      return stage === 'paused' || FREE.includes(stage) ? 'running' : null;
    case 'ended:done':
    case 'ended:paused':
    case 'ended:stopped':
    case 'ended:halted':
      return TRAINING.includes(stage) ? (event.slice(6) as Stage) : null;
  }
}

/** The worker is training (a new run, a load or an analysis must wait). */
export const isTraining = (stage: Stage): boolean => TRAINING.includes(stage);

/** A run holds the GPU and its inputs (training, or paused and resumable): its settings and inputs are fixed. */
export const holdsRun = (stage: Stage): boolean => !FREE.includes(stage);

export const canStart = (stage: Stage): boolean => nextStage(stage, 'start') !== null;
export const canPause = (stage: Stage): boolean => nextStage(stage, 'pause') !== null;
export const canStop = (stage: Stage): boolean => nextStage(stage, 'stop') !== null;
/** Resuming needs a paused run, or a saved one (after a reload). */
export const canResume = (stage: Stage, saved: boolean): boolean =>
  stage === 'paused' || (saved && nextStage(stage, 'resume') !== null);
/** Loading another reference or corpus waits until no run holds the inputs. */
export const canLoad = (stage: Stage): boolean => !holdsRun(stage);
