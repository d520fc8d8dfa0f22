// The live charts and what each shows (specs are module constants: Chart builds its plot once from them).
// Loss: train and val of Inheritune and of the demo reference's own training, against the reference val loss line,
// with round markers. Then throughput, achieved TFLOP/s with MFU %, learning rate, grad norm. Once a run compares
// baselines, the comparison: every run's validation loss against the tokens it has seen and the FLOPs it has spent.

import { Chart, type ChartSpec, type LineSpec } from './Chart';
import { comparisonByFlops, comparisonByTokens, type Run, RUNS, type Series } from './series';
import { useApp } from './store';

const LOSS: ChartSpec = {
  name: 'loss',
  title: 'Loss',
  height: 240,
  referenceLine: true,
  markers: true,
  axes: [{ scale: 'y', label: 'loss' }],
  lines: [
    { col: 'loss', label: 'train', stroke: '#2563eb' },
    { col: 'valLoss', label: 'val', stroke: '#ea580c', points: true },
    { col: 'refLoss', label: 'demo ref train', stroke: '#a855f7' },
    { col: 'refVal', label: 'demo ref val', stroke: '#7e22ce', points: true },
  ],
};

const THROUGHPUT: ChartSpec = {
  name: 'throughput',
  title: 'Throughput',
  height: 150,
  markers: true,
  axes: [
    {
      scale: 'y',
      label: 'tokens/s',
      fmt: (v) => (v >= 1e4 ? `${(v / 1e3).toFixed(0)}k` : v >= 10 ? v.toFixed(0) : String(+v.toPrecision(2))),
    },
  ],
  lines: [
    { col: 'tokensPerSec', label: 'tokens/s', stroke: '#0d9488', fmt: (v) => Math.round(v).toLocaleString('en-US') },
  ],
};

const FLOPS: ChartSpec = {
  name: 'flops',
  title: 'Achieved TFLOP/s and MFU',
  height: 150,
  markers: true,
  axes: [
    { scale: 'y', label: 'TFLOP/s' },
    { scale: '%', label: 'MFU %' },
  ],
  lines: [
    { col: 'tflops', label: 'TFLOP/s', stroke: '#0891b2', fmt: (v) => v.toFixed(3) },
    { col: 'mfu', label: 'MFU %', stroke: '#db2777', scale: '%', fmt: (v) => `${v.toFixed(2)}%` },
  ],
};

const LR: ChartSpec = {
  name: 'lr',
  title: 'Learning rate',
  height: 150,
  markers: true,
  axes: [{ scale: 'y', label: 'lr', fmt: (v) => (v === 0 ? '0' : v.toExponential(1).replace('.0e', 'e')) }],
  lines: [{ col: 'lr', label: 'lr', stroke: '#65a30d', fmt: (v) => v.toExponential(3) }],
};

const GRADNORM: ChartSpec = {
  name: 'gradnorm',
  title: 'Gradient norm',
  height: 150,
  markers: true,
  axes: [{ scale: 'y', label: '‖g‖' }],
  lines: [{ col: 'gradNorm', label: 'grad norm', stroke: '#b45309', fmt: (v) => v.toFixed(3) }],
};

/** Each run's colour on the comparison charts (Inheritune's val orange, as on the loss chart). */
const RUN_STROKE: Record<Run, string> = {
  inheritune: '#ea580c',
  scratch: '#475569',
  'scratch-2x': '#94a3b8',
  stack: '#16a34a',
  'hybrid-stack': '#0891b2',
  'half-width': '#9333ea',
  kd: '#db2777',
  'kd-hidden': '#be123c',
};
const runLines: LineSpec[] = RUNS.map((r) => ({ col: r, label: r, stroke: RUN_STROKE[r], points: true }));
const compact = (v: number) =>
  v === 0
    ? '0'
    : v >= 1e6
      ? `${+(v / 1e6).toPrecision(3)}M`
      : v >= 1e3
        ? `${+(v / 1e3).toPrecision(3)}k`
        : `${+v.toPrecision(3)}`;

const comparison = (name: string, title: string, data: Series, xLabel: string): ChartSpec => ({
  name,
  title,
  height: 200,
  referenceLine: true,
  data,
  xLabel,
  xFmt: compact,
  axes: [{ scale: 'y', label: 'val loss' }],
  lines: runLines,
});
const BY_TOKENS = comparison(
  'compare-tokens',
  'Comparison: val loss against tokens seen',
  comparisonByTokens,
  'tokens',
);
const BY_FLOPS = comparison(
  'compare-flops',
  'Comparison: val loss against training FLOPs',
  comparisonByFlops,
  'PFLOPs',
);

export function Charts() {
  const comparing = useApp((s) => s.settings.compare.length > 0 || s.rounds.some((r) => r.phase === 'baseline'));
  return (
    <section className="card charts" data-testid="charts">
      <Chart spec={LOSS} />
      {comparing && (
        <div className="chart-grid" data-testid="comparison-charts">
          <Chart spec={BY_TOKENS} />
          <Chart spec={BY_FLOPS} />
        </div>
      )}
      <div className="chart-grid">
        <Chart spec={THROUGHPUT} />
        <Chart spec={FLOPS} />
        <Chart spec={LR} />
        <Chart spec={GRADNORM} />
      </div>
    </section>
  );
}
