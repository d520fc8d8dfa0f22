// The run's outcome as a table: one row per Inheritune round (as each ends), the reference it is measured against,
// the baseline trained from scratch, and whether the grown model matched the reference's validation loss.

import { fmtDuration, fmtLoss, fmtParams, NONE } from './format';
import { useApp } from './store';
import type { RoundResult } from '../inheritune/pipeline';

function RoundRow({ r, refLoss }: { r: RoundResult; refLoss: number | null }) {
  const met = refLoss !== null && r.valLoss <= refLoss;
  return (
    <tr data-phase={r.phase} data-round={r.round}>
      <td>{r.phase}</td>
      <td className="num">{r.round}</td>
      <td className="num">{r.n}</td>
      <td className="num">{fmtParams(r.params)}</td>
      <td className="num">{r.steps}</td>
      <td className="num">
        {fmtLoss(r.valLossStart)} → <b className={met ? 'good' : undefined}>{fmtLoss(r.valLoss)}</b>
      </td>
      <td className="num">{fmtDuration(r.seconds)}</td>
    </tr>
  );
}

export function ReportTable() {
  const rounds = useApp((s) => s.rounds);
  const report = useApp((s) => s.report);
  const refVal = useApp((s) => s.refVal);
  const reference = useApp((s) => s.reference);
  const refLoss = report?.reference.valLoss ?? refVal?.valLoss ?? null;
  const inheritune = rounds.filter((r) => r.phase === 'inheritune');
  const baseline = rounds.find((r) => r.phase === 'baseline') ?? report?.baseline ?? null;
  const final = report?.final ?? null;
  // A paused run's report is provisional: the pipeline ended its part 'stopped', but the run resumes from here.
  const paused = useApp((s) => s.stage === 'paused') && report?.status === 'stopped';

  return (
    <section className="card" data-testid="report" data-status={report?.status ?? 'none'}>
      <h2>Report</h2>
      {inheritune.length === 0 && !report ? (
        <p className="muted small">Each round appears here as it ends.</p>
      ) : (
        <table className="report-table">
          <thead>
            <tr>
              <th>phase</th>
              <th>round</th>
              <th>n</th>
              <th>params</th>
              <th>steps</th>
              <th>val loss start → end</th>
              <th>time</th>
            </tr>
          </thead>
          <tbody>
            {inheritune.map((r) => (
              <RoundRow key={`${r.phase}-${r.round}`} r={r} refLoss={refLoss} />
            ))}
            <tr className="ref-row" data-phase="reference">
              <td>reference</td>
              <td />
              <td className="num">{report?.reference.layers ?? reference?.layers ?? NONE}</td>
              <td className="num">{fmtParams(report?.reference.params ?? reference?.params)}</td>
              <td />
              <td className="num">
                <b>{fmtLoss(refLoss)}</b>
              </td>
              <td />
            </tr>
            {baseline && <RoundRow r={baseline} refLoss={refLoss} />}
          </tbody>
        </table>
      )}
      {report && (
        <p
          className={`outcome ${final?.matched ? 'good' : 'bad'}`}
          data-testid="report-outcome"
          data-matched={final?.matched ?? false}
        >
          {paused && final ? 'So far: ' : ''}
          {final
            ? final.matched
              ? `Matched: n = ${final.n} (${fmtParams(final.params)} params) reached val loss ${fmtLoss(final.valLoss)} ≤ the reference's ${fmtLoss(report.reference.valLoss)}.`
              : `Not matched: the last model, n = ${final.n} (${fmtParams(final.params)}), reached ${fmtLoss(final.valLoss)} against the reference's ${fmtLoss(report.reference.valLoss)}.`
            : 'No round finished.'}{' '}
          <span className="muted">
            Run {paused ? 'paused (Resume continues it)' : report.status}
            {report.windows ? `; val loss on ${report.windows} windows of ${report.ctx} tokens` : ''}.
          </span>
          {final && baseline && (
            <span className="muted">
              {' '}
              Baseline from scratch: {fmtLoss(baseline.valLoss)} (
              {baseline.valLoss <= final.valLoss ? 'at or below' : 'above'} Inheritune).
            </span>
          )}
        </p>
      )}
    </section>
  );
}
