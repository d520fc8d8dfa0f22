// Compute accounting for the run: tokens seen, tokens per parameter against Chinchilla's ≈20, FLOPs used, training
// time, and an ETA for the round and a worst case for the whole run (every round grows by 2 up to the reference's
// layers; per-round time scaled by layers from today's throughput). Estimates are labelled as such.

import type { ReactNode } from 'react';
import { baselineStages } from '../inheritune/baseline-kinds';
import { fmtCount, fmtDuration, fmtFlops, fmtParams, NONE } from './format';
import { roundProgress, roundSize, type RoundProgress } from './progressOf';
import { useApp, type AppState } from './store';

const CHINCHILLA = 20;

interface Eta {
  round: number;
  /** The whole run, worst case (null when there is nothing more to estimate). */
  run: number | null;
  baseline: number | null;
  future: { n: number; sec: number }[];
}

function estimate(
  s: Pick<AppState, 'latest' | 'current' | 'rounds' | 'settings' | 'reference'>,
  p: RoundProgress | null,
  tokensPerUpdate: number,
): Eta | null {
  const { latest, current, rounds, settings, reference } = s;
  if (!latest || !current || !p || !(latest.tokensPerSec > 0)) return null;
  const perUpdate = tokensPerUpdate / latest.tokensPerSec;
  const left = Number.isFinite(p.of) ? Math.max(0, p.of - p.step) : 0;
  const round = left * perUpdate;
  if (latest.phase !== 'inheritune' || !reference) return { round, run: null, baseline: null, future: [] };
  // Later rounds: n+2, n+4, … up to k; a round's time grows about with its layers (embeddings and head aside).
  const k = reference.layers;
  const future: { n: number; sec: number }[] = [];
  for (let n = current.n; n < k; ) {
    n = Math.min(k, n + 2);
    future.push({ n, sec: (settings.stepsPerRound * perUpdate * n) / current.n });
  }
  let run = round + future.reduce((a, f) => a + f.sec, 0);
  let baseline: number | null = null;
  if (settings.compare.length) {
    // The baselines train their stages (worst case: grown to k layers) on as many updates as all Inheritune rounds;
    // an update's time scales with the layers, a half-width one's with a quarter of them.
    const done = rounds.filter((r) => r.phase === 'inheritune').length;
    const totalSteps = (done + 1 + future.length) * settings.stepsPerRound;
    baseline = 0;
    for (const kind of settings.compare)
      for (const st of baselineStages(kind, k, k, totalSteps))
        baseline += (st.steps * perUpdate * st.layers * (st.init === 'half-width' ? 0.25 : 1)) / current.n;
    run += baseline;
  }
  return { round, run, baseline, future };
}

function trainingSeconds(latest: AppState['latest'], rounds: AppState['rounds']): number | null {
  const done = rounds.reduce((a, r) => a + r.seconds, 0);
  if (!latest) return rounds.length ? done : null;
  const ended = rounds.some((r) => r.phase === latest.phase && r.round === latest.round);
  return done + (ended ? 0 : latest.elapsedSec);
}

function Row({ k, children, testId }: { k: string; children: ReactNode; testId?: string }) {
  return (
    <>
      <dt>{k}</dt>
      <dd data-testid={testId}>{children}</dd>
    </>
  );
}

export function Accounting() {
  const totals = useApp((s) => s.totals);
  const current = useApp((s) => s.current);
  const latest = useApp((s) => s.latest);
  const rounds = useApp((s) => s.rounds);
  const settings = useApp((s) => s.settings);
  const demo = useApp((s) => s.demo);
  const reference = useApp((s) => s.reference);
  const stage = useApp((s) => s.stage);

  const p = roundProgress(latest, current, rounds, demo.steps);
  const tokensPerUpdate =
    latest?.phase === 'reference' ? demo.batch * demo.ctx : settings.batch * settings.ctx * settings.accum;
  const roundTokens = p ? p.step * tokensPerUpdate : 0;
  const params = current?.params ?? 0;
  const tpp = params > 0 ? roundTokens / params : null;
  const eta =
    stage === 'running' || stage === 'demo-reference'
      ? estimate({ latest, current, rounds, settings, reference }, p, tokensPerUpdate)
      : null;
  const size = current ? roundSize(current, rounds) : NaN;

  return (
    <section className="card" data-testid="accounting">
      <h2>Compute</h2>
      <dl className="kv">
        <Row k="tokens seen" testId="acct-tokens">
          {totals.tokens ? fmtCount(totals.tokens) : NONE} <span className="muted small">(whole run)</span>
        </Row>
        <Row k="tokens / param" testId="acct-tpp">
          {tpp === null ? NONE : tpp.toFixed(tpp < 1 ? 3 : 1)}{' '}
          <span className="muted small">
            this round on {fmtParams(params)} params ({fmtCount(roundTokens)} tokens) · Chinchilla ≈ {CHINCHILLA}
            {params > 0 && totals.tokens > 0 && <> · whole run {(totals.tokens / params).toFixed(2)}</>}
          </span>
        </Row>
        <Row k="FLOPs used" testId="acct-flops">
          {totals.flops ? fmtFlops(totals.flops) : NONE}
        </Row>
        <Row k="training time" testId="acct-time">
          {fmtDuration(trainingSeconds(latest, rounds))}
        </Row>
        <Row k="round ETA" testId="acct-eta-round">
          {eta ? fmtDuration(eta.round) : NONE}
          {eta && Number.isFinite(size) && <span className="muted small"> ({size} updates per round)</span>}
        </Row>
        <Row k="run ETA (worst case)" testId="acct-eta-run">
          {eta?.run !== null && eta?.run !== undefined ? (
            <>
              ≤ {fmtDuration(eta.run)}{' '}
              <span className="muted small">
                estimate: {eta.future.length ? `rounds at n = ${eta.future.map((f) => f.n).join(', ')}` : 'last round'}
                {eta.baseline !== null && `, baselines ≈ ${fmtDuration(eta.baseline)}`}; time per round scaled by
                layers, evaluations excluded
              </span>
            </>
          ) : (
            <span className="muted">{latest?.phase === 'reference' ? 'after the demo reference' : NONE}</span>
          )}
        </Row>
      </dl>
    </section>
  );
}
