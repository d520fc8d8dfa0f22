// The charts' columnar stores: the per-model columns (learning rate, gradient norm, throughput) show one model, the
// demo reference's while it trains and Inheritune's once its first update arrives; losses keep the reference's and
// Inheritune's; the comparison stores put each run's val loss at the tokens (or FLOPs) it has spent.

import { expect, it } from 'vitest';
import { ComparisonSeries, UpdateSeries } from '../../src/ui/series';
import type { MetricPoint } from '../../src/worker/protocol';

const step = (phase: MetricPoint['phase'], x: number, lr: number): MetricPoint => ({
  phase,
  round: 0,
  n: 1,
  x,
  kind: 'step',
  loss: 5 + lr,
  lr,
  gradNorm: lr,
  tokensPerSec: 100 * lr,
  flopsPerSec: 1e12 * lr,
  mfu: lr / 10,
  tokens: 16,
  elapsedSec: x,
});

it("keeps the demo reference's rates until Inheritune's first update, then only Inheritune's", () => {
  const s = new UpdateSeries();
  s.add([0, 1, 2, 3].map((x) => step('reference', x, 1)));
  expect(s.cols.lr).toEqual([1, 1, 1, 1]);
  s.add([step('inheritune', 0, 2), step('inheritune', 1, 2)]);
  // x = 1, 2 are both phases' rows: the reference's rate is gone, its loss stays.
  expect(s.x).toEqual([1, 2, 3, 4]);
  expect(s.cols.lr).toEqual([2, 2, null, null]);
  expect(s.cols.tokensPerSec).toEqual([200, 200, null, null]);
  expect(s.cols.refLoss).toEqual([6, 6, 6, 6]);
  expect(s.cols.loss).toEqual([7, 7, null, null]);
  // A late reference point does not write the per-model columns again; a baseline's is not drawn here at all.
  s.add([step('reference', 3, 1), step('baseline', 2, 3)]);
  expect(s.cols.lr).toEqual([2, 2, null, null]);
  expect(s.x).toEqual([1, 2, 3, 4]);
  s.clear();
  s.add([step('reference', 0, 1)]);
  expect(s.cols.lr).toEqual([1]);
});

it('keeps one marker per round when a resumed round announces itself again', () => {
  const s = new UpdateSeries();
  s.mark({ x: 0, label: 'n=1' });
  s.mark({ x: 4, label: 'n=3' });
  s.mark({ x: 4, label: 'n=3' });
  s.mark({ x: 0, label: 'baseline' }); // another phase's marker at the same x stays
  expect(s.markers).toEqual([
    { x: 0, label: 'n=1' },
    { x: 4, label: 'n=3' },
    { x: 0, label: 'baseline' },
  ]);
});

it("puts each run's val loss at the tokens and FLOPs it has spent, Inheritune's rounds adding up", () => {
  const byTokens = new ComparisonSeries('tokens');
  const byFlops = new ComparisonSeries('flops');
  const ev = (phase: MetricPoint['phase'], x: number, loss: number, run?: MetricPoint['run']): MetricPoint => ({
    phase,
    round: 0,
    n: 1,
    x,
    kind: 'eval',
    loss,
    elapsedSec: 0,
    ...(run ? { run } : {}),
  });
  // FLOPs per token = flopsPerSec / tokensPerSec: 1e10 in the step helper; 2e10 for Inheritune's second round.
  const points: MetricPoint[] = [
    ev('inheritune', 0, 6),
    step('inheritune', 0, 1),
    step('inheritune', 1, 1),
    ev('inheritune', 2, 5),
    { ...step('inheritune', 2, 2), flopsPerSec: 2e10 * 200 },
    ev('inheritune', 3, 4),
    ev('baseline', 0, 7, 'stack'),
    step('baseline', 0, 1),
    ev('baseline', 1, 6.5, 'stack'),
    ev('baseline', 0, 7.5),
    step('reference', 0, 1),
  ];
  points[7] = { ...points[7]!, run: 'stack' };
  byTokens.add(points);
  byFlops.add(points);
  expect(byTokens.x).toEqual([0, 16, 32, 48]);
  expect(byTokens.cols.inheritune).toEqual([6, null, 5, 4]);
  // The next round's opening evaluation where round 0 ended keeps round 0's last value.
  byTokens.add([ev('inheritune', 2, 9)]);
  expect(byTokens.cols.inheritune).toEqual([6, null, 5, 4]);
  expect(byTokens.cols.stack).toEqual([7, 6.5, null, null]);
  // A baseline point of an older log (no kind) is the scratch baseline's.
  expect(byTokens.cols.scratch).toEqual([7.5, null, null, null]);
  const pf = (flops: number) => flops / 1e15;
  expect(byFlops.x).toEqual([0, pf(16e10), pf(32e10), pf(64e10)].sort((a, b) => a - b));
  expect(byFlops.cols.inheritune[byFlops.x.indexOf(pf(64e10))]).toBe(4);
  expect(byFlops.cols.stack[byFlops.x.indexOf(pf(16e10))]).toBe(6.5);
  byTokens.clear();
  byTokens.add([ev('baseline', 0, 9, 'half-width')]);
  expect([byTokens.x, byTokens.cols['half-width']]).toEqual([[0], [9]]);
});
