// The live numbers: the latest train and val loss, throughput, achieved TFLOP/s and MFU, learning rate and gradient
// norm, and which model is training (phase, round, n, step within the round). They re-render once per metrics batch;
// the charts do not re-render at all (chart.ts).

import type { ReactNode } from 'react';
import { fmtCount, fmtLoss, fmtLr, fmtNum, fmtParams, fmtTflops, NONE } from './format';
import { roundProgress } from './progressOf';
import { useApp } from './store';

function Metric({
  label,
  testId,
  children,
  title,
}: {
  label: string;
  testId: string;
  children: ReactNode;
  title?: string;
}) {
  return (
    <div className="metric" title={title}>
      <div className="metric-label">{label}</div>
      {/* A word ("unknown") in place of a number is set smaller so it fits the tile without an ellipsis. */}
      <div
        className={`metric-value num${typeof children === 'string' && /^[a-z]/.test(children) ? ' word' : ''}`}
        data-testid={testId}
      >
        {children}
      </div>
    </div>
  );
}

function Where() {
  const latest = useApp((s) => s.latest);
  const current = useApp((s) => s.current);
  const rounds = useApp((s) => s.rounds);
  const demoSteps = useApp((s) => s.demo.steps);
  const grew = useApp((s) => s.grows.at(-1));
  const p = roundProgress(latest, current, rounds, demoSteps);
  if (!latest)
    return (
      <div className="where muted" data-testid="where">
        No run yet.
      </div>
    );
  const phase =
    latest.phase === 'reference'
      ? 'training the demo reference'
      : latest.phase === 'baseline'
        ? `baseline: ${current?.kind ?? 'scratch'}`
        : latest.phase;
  return (
    <div className="where" data-testid="where">
      <span className="chip accent">{phase}</span>
      {latest.phase !== 'reference' && current && (
        <span>
          round <b>{current.round}</b> · n = <b>{current.n}</b> · {fmtParams(current.params)} params
        </span>
      )}
      {grew && latest.phase === 'inheritune' && (
        <span className="muted" data-testid="last-grow">
          grew {grew.from} → {grew.to} blocks ({grew.mode})
        </span>
      )}
      {p && (
        <span data-testid="round-step">
          step <b className="num">{p.step}</b>
          {Number.isFinite(p.of) && (
            <>
              {' '}
              of {p.of}
              <span className="bar inline">
                <span className="bar-fill" style={{ width: `${p.of ? (100 * p.step) / p.of : 0}%` }} />
              </span>
            </>
          )}
        </span>
      )}
    </div>
  );
}

export function Metrics() {
  const latest = useApp((s) => s.latest);
  const latestVal = useApp((s) => s.latestVal);
  const refVal = useApp((s) => s.refVal?.valLoss ?? null);
  const mfu = latest ? (latest.mfu === null ? 'unknown' : `${(latest.mfu * 100).toFixed(2)}%`) : NONE;
  const gap = latestVal !== null && refVal !== null ? latestVal - refVal : null;
  return (
    <section className="card metrics-card" data-testid="metrics">
      <Where />
      <div className="metrics">
        <Metric label="train loss" testId="metric-loss">
          {fmtLoss(latest?.loss)}
        </Metric>
        <Metric
          label="val loss"
          testId="metric-val"
          title={gap === null ? '' : `${gap > 0 ? '+' : ''}${gap.toFixed(4)} vs the reference`}
        >
          {fmtLoss(latestVal)}
        </Metric>
        <Metric label="tokens/s" testId="metric-tokens">
          {fmtCount(latest?.tokensPerSec)}
        </Metric>
        <Metric label="TFLOP/s" testId="metric-tflops">
          {fmtTflops(latest?.flopsPerSec)}
        </Metric>
        <Metric label="MFU" testId="metric-mfu" title="achieved FLOP/s ÷ the peak in the header">
          {mfu}
        </Metric>
        <Metric label="lr" testId="metric-lr">
          {fmtLr(latest?.lr)}
        </Metric>
        <Metric label="grad norm" testId="metric-gradnorm">
          {fmtNum(latest?.gradNorm, 3)}
        </Metric>
      </div>
      {gap !== null && (
        <p className={`small ${gap <= 0 ? 'good' : 'muted'}`} data-testid="gap">
          val − reference: {gap > 0 ? '+' : ''}
          {gap.toFixed(4)} {gap <= 0 ? '(matched)' : ''}
        </p>
      )}
    </section>
  );
}
