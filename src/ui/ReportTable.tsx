// The run's outcome as tables: one row per round as each ends (Inheritune's, then each baseline's stages), the
// reference it is measured against, and whether the grown model matched the reference's validation loss; once
// baselines have finished, the paper's comparison (one row per run: size, updates, tokens, FLOPs, val loss, time),
// downloadable as CSV and JSON.

import { comparisonCsv, type ComparisonRow } from '../inheritune/rounds';
import { fmtCount, fmtDuration, fmtFlops, fmtLoss, fmtParams, NONE } from './format';
import { useApp } from './store';
import type { RoundResult, RunReport } from '../inheritune/pipeline';

/** "scratch", "stack 1/2". */
function roundLabel(r: RoundResult): string {
  if (r.phase !== 'baseline') return r.phase;
  const kind = r.kind ?? 'scratch';
  return kind === 'stack' && r.stage !== undefined ? `${kind} ${r.stage + 1}/2` : kind;
}

function RoundRow({ r, refLoss }: { r: RoundResult; refLoss: number | null }) {
  const met = refLoss !== null && r.valLoss <= refLoss;
  return (
    <tr
      data-phase={r.phase}
      data-round={r.round}
      data-kind={r.kind ?? (r.phase === 'baseline' ? 'scratch' : undefined)}
    >
      <td>{roundLabel(r)}</td>
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
  const baselines = rounds.some((r) => r.phase === 'baseline')
    ? rounds.filter((r) => r.phase === 'baseline')
    : (report?.baselines ?? []);
  const scratch = baselines.find((r) => (r.kind ?? 'scratch') === 'scratch') ?? null;
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
            {baselines.map((r) => (
              <RoundRow key={`${r.phase}-${r.round}`} r={r} refLoss={refLoss} />
            ))}
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
          {final && scratch && (
            <span className="muted">
              {' '}
              Baseline from scratch: {fmtLoss(scratch.valLoss)} (
              {scratch.valLoss <= final.valLoss ? 'at or below' : 'above'} Inheritune).
            </span>
          )}
        </p>
      )}
      {report && report.comparison.length > 1 && <Comparison report={report} />}
    </section>
  );
}

const pct = (v: number | null) => (v === null ? NONE : `${(100 * v).toFixed(1)}%`);

/** The downstream cells: top-1 and last-word accuracy, the last word's log-probability. */
function Scores({ d }: { d: Pick<ComparisonRow, 'top1' | 'lastWord' | 'lastWordLogp'> }) {
  return (
    <>
      <td className="num">{pct(d.top1)}</td>
      <td className="num">{pct(d.lastWord)}</td>
      <td className="num">{d.lastWordLogp === null ? NONE : d.lastWordLogp.toFixed(3)}</td>
    </>
  );
}

/** The paper's table: Inheritune and each baseline on the same budget, against the reference. */
function Comparison({ report }: { report: RunReport }) {
  const take = useApp((s) => s.addDownloads);
  const best = Math.min(...report.comparison.map((r) => r.valLoss));
  const download = () =>
    take([
      { name: 'comparison.csv', blob: new Blob([comparisonCsv(report)], { type: 'text/csv' }) },
      {
        name: 'comparison.json',
        blob: new Blob(
          [
            JSON.stringify(
              {
                reference: report.reference,
                ctx: report.ctx,
                windows: report.windows,
                comparison: report.comparison,
                rounds: report.rounds,
                baselines: report.baselines,
              },
              null,
              2,
            ),
          ],
          { type: 'application/json' },
        ),
      },
    ]);
  const row = (r: ComparisonRow) => (
    <tr key={r.kind} data-kind={r.kind}>
      <td>{r.kind}</td>
      <td className="num">{r.layers}</td>
      <td className="num">{r.width ?? NONE}</td>
      <td className="num">{fmtParams(r.params)}</td>
      <td className="num">{r.steps}</td>
      <td className="num">{r.tokens === null ? NONE : fmtCount(r.tokens)}</td>
      <td className="num">{r.flops === null ? NONE : fmtFlops(r.flops)}</td>
      <td className="num">
        <b className={r.valLoss === best ? 'good' : undefined}>{fmtLoss(r.valLoss)}</b>
      </td>
      <td className="num">
        {r.gap >= 0 ? '+' : ''}
        {r.gap.toFixed(4)}
      </td>
      <td className="num">{fmtDuration(r.seconds)}</td>
      <Scores d={r} />
    </tr>
  );
  const d = report.reference.downstream;
  return (
    <>
      <h3>Comparison</h3>
      <table className="report-table" data-testid="comparison">
        <thead>
          <tr>
            <th>run</th>
            <th>blocks</th>
            <th>width</th>
            <th>params</th>
            <th>steps</th>
            <th>tokens</th>
            <th>FLOPs</th>
            <th>val loss</th>
            <th>vs reference</th>
            <th>time</th>
            <th title="Top-1 next-token accuracy on the validation windows">top-1</th>
            <th title="Last-word accuracy: each validation window's last word, predicted whole and greedily">
              last word
            </th>
            <th title="The last word's mean log-probability given its window (nats)">word log p</th>
          </tr>
        </thead>
        <tbody>
          <tr className="ref-row" data-kind="reference">
            <td>reference</td>
            <td className="num">{report.reference.layers}</td>
            <td />
            <td className="num">{fmtParams(report.reference.params)}</td>
            <td />
            <td />
            <td />
            <td className="num">{fmtLoss(report.reference.valLoss)}</td>
            <td />
            <td />
            <Scores
              d={{ top1: d?.top1 ?? null, lastWord: d?.lastWord ?? null, lastWordLogp: d?.lastWordLogp ?? null }}
            />
          </tr>
          {report.comparison.map(row)}
        </tbody>
      </table>
      <div className="actions">
        <button type="button" data-testid="export-comparison" onClick={download}>
          Comparison (CSV + JSON)
        </button>
      </div>
    </>
  );
}
