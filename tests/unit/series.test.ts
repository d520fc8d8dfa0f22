// The charts' columnar store: the per-model columns (learning rate, gradient norm, throughput) show one model, the
// demo reference's while it trains and Inheritune's once its first update arrives; losses keep every phase.

import { expect, it } from 'vitest';
import { Series } from '../../src/ui/series';
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
  const s = new Series();
  s.add([0, 1, 2, 3].map((x) => step('reference', x, 1)));
  expect(s.cols.lr).toEqual([1, 1, 1, 1]);
  s.add([step('inheritune', 0, 2), step('inheritune', 1, 2)]);
  // x = 1, 2 are both phases' rows: the reference's rate is gone, its loss stays.
  expect(s.x).toEqual([1, 2, 3, 4]);
  expect(s.cols.lr).toEqual([2, 2, null, null]);
  expect(s.cols.tokensPerSec).toEqual([200, 200, null, null]);
  expect(s.cols.refLoss).toEqual([6, 6, 6, 6]);
  expect(s.cols.loss).toEqual([7, 7, null, null]);
  // A late reference point (or the baseline's) does not write the per-model columns again.
  s.add([step('reference', 3, 1), step('baseline', 2, 3)]);
  expect(s.cols.lr).toEqual([2, 2, null, null]);
  expect(s.cols.baselineLoss).toEqual([null, null, 8, null]);
  s.clear();
  s.add([step('reference', 0, 1)]);
  expect(s.cols.lr).toEqual([1]);
});

it('keeps one marker per round when a resumed round announces itself again', () => {
  const s = new Series();
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
