// The run's stage machine shared by the worker and the page (src/worker/stages.ts): which stage each action and
// outcome leads to, and what each stage allows. Pure, no GPU.

import { describe, expect, it } from 'vitest';
import {
  canLoad,
  canPause,
  canResume,
  canStart,
  canStop,
  holdsRun,
  nextStage,
  type Stage,
  type StageEvent,
} from '../../src/worker/stages';

const STAGES: Stage[] = ['idle', 'demo-reference', 'running', 'pausing', 'paused', 'done', 'stopped', 'halted'];

describe('the run stage machine', () => {
  it('walks a run through its life: start, pause, resume, stop, and the demo', () => {
    const walk = (from: Stage, events: StageEvent[]) =>
      events.reduce<Stage | null>((s, e) => (s === null ? null : nextStage(s, e)), from);
    expect(walk('idle', ['start', 'ended:done'])).toBe('done');
    expect(walk('idle', ['start', 'pause', 'ended:paused', 'resume', 'ended:done'])).toBe('done');
    expect(walk('idle', ['start', 'pause', 'stop', 'ended:stopped'])).toBe('stopped'); // a pause under way became a stop
    expect(walk('idle', ['start', 'pause', 'ended:paused', 'stop'])).toBe('stopped');
    expect(walk('idle', ['demo', 'demo-trained', 'ended:halted'])).toBe('halted');
    expect(walk('idle', ['demo', 'stop', 'ended:stopped'])).toBe('stopped');
    expect(walk('done', ['start'])).toBe('running');
    expect(walk('halted', ['resume'])).toBe('running'); // after a reload, or a lost device, from the run folder
  });

  it('refuses what a stage does not allow', () => {
    expect(nextStage('demo-reference', 'pause')).toBeNull(); // saved only once trained
    expect(nextStage('running', 'start')).toBeNull();
    expect(nextStage('pausing', 'demo')).toBeNull();
    expect(nextStage('idle', 'pause')).toBeNull();
    expect(nextStage('idle', 'ended:done')).toBeNull();
    expect(nextStage('idle', 'demo-trained')).toBeNull();
  });

  it('derives what the page enables from the same table', () => {
    const allowed = (f: (s: Stage) => boolean) => STAGES.filter(f);
    expect(allowed(canStart)).toEqual(['idle', 'paused', 'done', 'stopped', 'halted']);
    expect(allowed(canPause)).toEqual(['running']);
    expect(allowed(canStop)).toEqual(['demo-reference', 'running', 'pausing', 'paused']);
    expect(allowed((s) => canResume(s, false))).toEqual(['paused']);
    expect(allowed((s) => canResume(s, true))).toEqual(['idle', 'paused', 'done', 'stopped', 'halted']);
    expect(allowed(canLoad)).toEqual(['idle', 'done', 'stopped', 'halted']);
    expect(allowed(holdsRun)).toEqual(['demo-reference', 'running', 'pausing', 'paused']);
  });
});
