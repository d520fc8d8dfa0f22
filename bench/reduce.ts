// The reducing kernels (LayerNorm forward and input gradient, cross-entropy forward), timed on the device in use and,
// when given, on a second device of the same adapter told not to use subgroups: what subgroup reductions gain there.

import type { Gpu } from '../src/gpu/runtime';
import { CE_FORWARD } from '../src/tensor/ops/crossentropy';
import { LAYERNORM_BACKWARD, LAYERNORM_EPS, LAYERNORM_FORWARD } from '../src/tensor/ops/layernorm';
import { dispatchRows } from '../src/tensor/ops/launch';
import { empty, fromArray, type Tensor } from '../src/tensor/tensor';
import { Rng } from '../src/util/rng';
import type { BenchSize } from './bench';
import { randomFill, timeWall } from './measure';

export interface ReduceResult {
  kernel: string;
  rows: number;
  cols: number;
  ms: number;
  /** Bytes the kernel must move (inputs read, outputs written, once each) per ms, in GB/s. */
  gbPerSec: number;
  /** Whether `ms` is with subgroup reductions (Gpu.subgroupReduce). */
  subgroups: boolean;
  /** The same kernel on the device without subgroups (BenchOptions.withoutSubgroups), or null. */
  msWithoutSubgroups: number | null;
}

/** GPT-2 shapes at full size: LayerNorm over B·T = 8192 rows of 768, cross-entropy over a 1024-row head chunk. */
function shapes(size: BenchSize) {
  return size === 'ci' ? { ln: [64, 96], ce: [8, 1000] } : { ln: [8192, 768], ce: [1024, 50257] };
}

async function timeAll(gpu: Gpu, size: BenchSize, targetMs: number) {
  const {
    ln: [rows, C],
    ce: [N, V],
  } = shapes(size);
  const rng = new Rng(3);
  const made: Tensor[] = [];
  const tensor = (shape: number[], fill = false) => {
    const t = empty(gpu, shape);
    made.push(t);
    if (fill) randomFill(gpu, t, rng);
    return t;
  };
  try {
    const x = tensor([rows, C], true);
    const w = tensor([C], true);
    const b = tensor([C], true);
    const dy = tensor([rows, C], true);
    const logits = tensor([N, V], true);
    const [y, dx, mean, rstd, losses, lse] = [
      tensor([rows, C]),
      tensor([rows, C]),
      tensor([rows]),
      tensor([rows]),
      tensor([N]),
      tensor([N]),
    ];
    const targets = fromArray(
      gpu,
      Int32Array.from({ length: N }, (_, i) => (i * 7919) % V),
      [N],
      'i32',
    );
    made.push(targets);
    const lnForward = () =>
      dispatchRows(
        gpu,
        LAYERNORM_FORWARD,
        [x.view, w.view, b.view, y.view, mean.view, rstd.view],
        { rows, C, eps: LAYERNORM_EPS },
        rows,
      );
    lnForward(); // the backward reads its mean and rstd
    const cases = [
      { kernel: 'layernorm forward', rows, cols: C, bytes: 4 * (2 * rows * C + 2 * C + 2 * rows), record: lnForward },
      {
        kernel: 'layernorm backward (dx)',
        rows,
        cols: C,
        bytes: 4 * (4 * rows * C + C + 2 * rows),
        record: () =>
          dispatchRows(
            gpu,
            LAYERNORM_BACKWARD,
            // dx alone: no parameter sums (their workgroups come after the rows' in training's dispatch).
            [x.view, w.view, dy.view, mean.view, rstd.view, dx.view, gpu.dummyOut(1), gpu.dummyOut(2)],
            { rows, C, dxRows: rows },
            rows,
          ),
      },
      {
        kernel: 'cross-entropy forward',
        rows: N,
        cols: V,
        bytes: 4 * (N * V + 3 * N),
        record: () => dispatchRows(gpu, CE_FORWARD, [logits.view, targets.view, losses.view, lse.view], { N, V }, N),
      },
    ];
    const out: { kernel: string; rows: number; cols: number; ms: number; bytes: number }[] = [];
    for (const { record, ...c } of cases) out.push({ ...c, ms: (await timeWall(gpu, record, targetMs)).ms });
    return out;
  } finally {
    for (const t of made) t.dispose();
  }
}

export async function benchReduce(
  gpu: Gpu,
  size: BenchSize,
  targetMs: number,
  withoutSubgroups?: () => Promise<Gpu>,
): Promise<ReduceResult[]> {
  const here = await timeAll(gpu, size, targetMs);
  const there = withoutSubgroups ? await timeAll(await withoutSubgroups(), size, targetMs) : null;
  return here.map((r, i) => ({
    kernel: r.kernel,
    rows: r.rows,
    cols: r.cols,
    ms: r.ms,
    gbPerSec: r.bytes / (r.ms / 1000) / 1e9,
    subgroups: gpu.subgroupReduce,
    msWithoutSubgroups: there?.[i]?.ms ?? null,
  }));
}
