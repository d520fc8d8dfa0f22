// Starting, pausing, resuming and stopping runs: the run form, the demo's reference form, the buttons with the
// rules for when each is allowed (status.ts, validate.ts), peak measurement, and the offer to resume a run saved
// in the browser before a reload.

import { useMemo } from 'react';
import { NumberField } from './Field';
import { fmtTime } from './format';
import { SettingsForm } from './SettingsForm';
import { canPause, canResume, canStart, canStop, holdsRun } from '../worker/stages';
import { engineWork } from './busy';
import { useApp } from './store';
import { growPlan } from '../inheritune/plan';
import { checkDemo } from '../settings/demo';
import { defaultRunSettings, issuesByField } from '../settings/schema';
import { demoErrors, type Errors, hasErrors, runErrors } from './validate';
import type { DemoSettings } from '../worker/protocol';

function SavedBanner() {
  const saved = useApp((s) => s.saved);
  const stage = useApp((s) => s.stage);
  const ready = useApp((s) => s.gpu.status === 'ready');
  if (!saved || stage !== 'idle') return null;
  const resume = () => {
    const { setSettings, send } = useApp.getState();
    // The form shows what the resumed run trains with (the accounting reads it for its ETA); fields a run saved by an
    // earlier version lacks keep their defaults.
    setSettings({ ...defaultRunSettings(), ...saved.settings });
    send({ type: 'resume' });
  };
  return (
    <div className="banner" data-testid="saved-banner">
      <div>
        <b>A saved run can be resumed.</b> {saved.reference} on {saved.corpus}: {saved.phase} round {saved.round}, n ={' '}
        {saved.n}, step {saved.step} <span className="muted">(saved {fmtTime(saved.savedAt)})</span>
      </div>
      <div className="banner-actions">
        <button
          type="button"
          className="primary"
          data-testid="resume-saved"
          disabled={!ready || !canResume(stage, true)}
          onClick={resume}
        >
          Resume saved run
        </button>
        <button
          type="button"
          data-testid="discard-saved"
          disabled={!ready}
          onClick={() => useApp.getState().send({ type: 'discard-saved' })}
        >
          Discard
        </button>
      </div>
    </div>
  );
}

const DEMO_FIELDS: [keyof DemoSettings, string][] = [
  ['layers', 'layers'],
  ['width', 'width'],
  ['heads', 'heads'],
  ['steps', 'steps'],
  ['batch', 'batch'],
  ['ctx', 'ctx'],
  ['lr', 'lr'],
];

function DemoForm({ locked }: { locked: boolean }) {
  const demo = useApp((s) => s.demo);
  const setDemo = useApp((s) => s.setDemo);
  const adapter = useApp((s) => s.gpu.adapter);
  const errors = useMemo(() => issuesByField(checkDemo(demo, adapter)) as Errors<DemoSettings>, [demo, adapter]);
  return (
    <details className="demo" data-testid="demo-settings">
      <summary>
        Demo reference{' '}
        <span className="muted small">
          {demo.layers} layers × {demo.width}, {demo.heads} heads, {demo.steps} steps
        </span>
      </summary>
      <div className="form-grid">
        {DEMO_FIELDS.map(([k, label]) => (
          <NumberField
            key={k}
            label={label}
            testId={`demo-${k}`}
            value={demo[k]}
            error={errors[k]}
            disabled={locked}
            onChange={(v) => setDemo({ [k]: v ?? NaN })}
          />
        ))}
      </div>
    </details>
  );
}

export function RunControls() {
  const settings = useApp((s) => s.settings);
  const demo = useApp((s) => s.demo);
  const reference = useApp((s) => s.reference);
  const corpus = useApp((s) => s.corpus);
  const stage = useApp((s) => s.stage);
  const engine = useApp((s) => s.engine);
  const ready = useApp((s) => s.gpu.status === 'ready');
  const lastSnapshot = useApp((s) => s.lastSnapshot);
  const send = useApp((s) => s.send);

  const adapter = useApp((s) => s.gpu.adapter);
  const errors = useMemo(() => runErrors(settings, reference, corpus, adapter), [settings, reference, corpus, adapter]);
  // The demo trains its own reference: n is checked against the demo's layers, and the corpus may not be loaded yet.
  const demoProblems = useMemo(() => demoErrors(demo, settings, adapter), [settings, demo, adapter]);
  const plan = reference && !errors.n ? growPlan(settings.n, reference.layers).text : null;

  const busy = !canStart(stage);
  const working = engineWork(engine);
  const locked = holdsRun(stage);
  const startBlocked = !ready
    ? 'the GPU engine is not ready'
    : busy
      ? 'a task is running'
      : (working ??
        (!reference
          ? 'load a reference checkpoint'
          : !corpus
            ? 'load a corpus'
            : hasErrors(errors)
              ? 'fix the fields marked in red'
              : null));
  const demoBlocked = !ready
    ? 'the GPU engine is not ready'
    : busy
      ? 'a task is running'
      : (working ?? (hasErrors(demoProblems) ? `fix: ${Object.values(demoProblems).join('; ')}` : null));

  return (
    <section className="card" data-testid="run-controls">
      <h2>Run</h2>
      <SavedBanner />
      <SettingsForm errors={errors} locked={locked} />
      {plan && (
        <p className="muted small" data-testid="plan">
          Plan: {plan}.
        </p>
      )}
      <div className="actions">
        <button
          type="button"
          className="primary"
          data-testid="start"
          disabled={!!startBlocked}
          title={startBlocked ?? 'Inherit n blocks, train, grow by 2 until the reference val loss is reached'}
          onClick={() => send({ type: 'start', settings })}
        >
          Start
        </button>
        <button
          type="button"
          data-testid="demo"
          disabled={!!demoBlocked}
          title={demoBlocked ?? ''}
          onClick={() => send({ type: 'demo', demo, settings })}
        >
          Demo
        </button>
        <button
          type="button"
          data-testid="pause"
          disabled={!canPause(stage)}
          onClick={() => send({ type: 'pause' })}
          title={
            stage === 'demo-reference'
              ? 'The demo reference is saved only once trained: it cannot be paused (Stop ends it)'
              : 'Save a checkpoint at the next update and pause'
          }
        >
          Pause
        </button>
        <button
          type="button"
          data-testid="resume"
          disabled={!canResume(stage, false)}
          onClick={() => send({ type: 'resume' })}
        >
          Resume
        </button>
        <button
          type="button"
          className="danger"
          data-testid="stop"
          disabled={!canStop(stage)}
          onClick={() => send({ type: 'stop' })}
        >
          Stop
        </button>
        <button
          type="button"
          className="link"
          data-testid="measure-peak"
          disabled={!ready || busy || !!working}
          onClick={() => send({ type: 'measure-peak' })}
          title="Time this engine's f32 matmul and use its best FLOP/s as the MFU peak"
        >
          Measure peak
        </button>
      </div>
      {startBlocked && startBlocked !== 'a task is running' && (
        <p className="muted small" data-testid="start-blocked">
          Start: {startBlocked}.
        </p>
      )}
      <p className="muted small">
        <b>Demo</b> trains a small GPT-2 reference on the bundled Shakespeare in this tab, then runs Inheritune on it
        with the settings above.
      </p>
      <DemoForm locked={locked} />
      {lastSnapshot && (
        <p className="muted small" data-testid="last-snapshot">
          Last snapshot: {fmtTime(lastSnapshot)}
        </p>
      )}
    </section>
  );
}
