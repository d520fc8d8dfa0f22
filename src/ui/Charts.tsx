// The five live charts and what each shows (specs are module constants: Chart builds its plot once from them).
// Loss: train and val of Inheritune, of the baseline, and of the demo reference's own training, against the
// reference val loss line, with round markers. Then throughput, achieved TFLOP/s with MFU %, learning rate, grad norm.

import { Chart, type ChartSpec } from './Chart';

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
    { col: 'baselineLoss', label: 'baseline train', stroke: '#94a3b8', dash: [4, 3] },
    { col: 'baselineVal', label: 'baseline val', stroke: '#475569', points: true },
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

export function Charts() {
  return (
    <section className="card charts" data-testid="charts">
      <Chart spec={LOSS} />
      <div className="chart-grid">
        <Chart spec={THROUGHPUT} />
        <Chart spec={FLOPS} />
        <Chart spec={LR} />
        <Chart spec={GRADNORM} />
      </div>
    </section>
  );
}
