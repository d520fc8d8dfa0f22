// Self-check of the column sums that wait inside a backward pass (ops/colsum.ts): jobs deferred whole, last stages
// waiting for the end, the arena their scratch comes from and the table dispatch that sums them all at once. Each
// pass's sums are compared with f64 and, bit for bit, with the same jobs recorded at once outside a pass.

import { Rng } from '../util/rng';
import { empty, fromArray, type Tensor, tidyAsync, zeros } from '../tensor';
import { type ColsumJob, colsumScratch, flushColsums, launchColsums, openColsums } from '../tensor/ops/colsum';
import { differingElements, f32, EXACT_COUNT } from './compare';
import { TOL_REDUCE } from './support';
import type { Check } from './harness';

/** [R, N] per job: one stage (R ≤ 256), or partials first (R > 256), ragged 64-column tiles. */
const SHAPES: readonly (readonly [number, number])[] = [
  [1, 1],
  [7, 33],
  [256, 64],
  [257, 130],
  [700, 70],
  [16, 5],
  [3, 200],
];

const colsumWaitCheck: Check = {
  name: 'column sums waiting in backward',
  kernels: ['colsum', 'colsum_table'],
  async run({ gpu, expect }) {
    const rng = new Rng(12);
    const xs = SHAPES.map(([R, N]) => f32(rng.normals(R * N)));
    // The second job into the last range adds other values (the same ones would give the same bits in either order).
    const [lastR, lastN] = SHAPES[SHAPES.length - 1]!;
    const again = f32(rng.normals(lastR * lastN));
    const kept = f32(rng.normals(300 * 40));
    // Outputs: one "bank" with a 64-aligned range per shape (the last shape's range also takes a second job, which
    // adds into the same gradient and so never shares its dispatch), and the kept job's in a buffer of its own.
    const offsets: number[] = [];
    let bankSize = 0;
    for (const [, N] of SHAPES) {
      offsets.push(bankSize);
      bankSize += Math.ceil(N / 64) * 64;
    }
    const want = new Float64Array(bankSize);
    SHAPES.forEach(([R, N], j) => {
      for (let r = 0; r < R; r++) for (let n = 0; n < N; n++) want[offsets[j]! + n]! += xs[j]![r * N + n]!;
    });
    for (let r = 0; r < lastR; r++)
      for (let n = 0; n < lastN; n++) want[offsets[SHAPES.length - 1]! + n]! += again[r * lastN + n]!;
    const wantKept = new Float64Array(40);
    for (let r = 0; r < 300; r++) for (let n = 0; n < 40; n++) wantKept[n]! += kept[r * 40 + n]!;

    /** The jobs of one pass, their inputs in scratch handed over (from the arena inside a pass where it has room). */
    const jobsInto = (bank: Tensor, keptOut: Tensor, keptIn: Tensor): ColsumJob[] => {
      const jobs: ColsumJob[] = SHAPES.map(([R, N], j) => {
        const x = colsumScratch(gpu, [R, N]);
        gpu.upload(x.view, Float32Array.from(xs[j]!));
        return { x: x.view, out: bank.range(offsets[j]!, N), R, N, accumulate: true, parameter: true, handOver: x };
      });
      const second = colsumScratch(gpu, [lastR, lastN]);
      gpu.upload(second.view, Float32Array.from(again));
      const last = SHAPES.length - 1;
      jobs.push({
        x: second.view,
        out: bank.range(offsets[last]!, lastN),
        R: lastR,
        N: lastN,
        accumulate: true,
        parameter: true,
        handOver: second,
      });
      jobs.push({ x: keptIn.view, out: keptOut.view, R: 300, N: 40, accumulate: true, parameter: true, keep: keptIn });
      return jobs;
    };

    await tidyAsync(async () => {
      const bank = zeros(gpu, [bankSize]);
      const keptOut = zeros(gpu, [40]);
      const refBank = zeros(gpu, [bankSize]);
      const refKept = zeros(gpu, [40]);
      const keptIn = fromArray(gpu, kept, [300, 40]);
      const tables0 = gpu.dispatchesByKernel.get('colsum_table') ?? 0;
      // Three passes: the first sizes the arena (its scratch is pooled), the later ones sum from it in a table.
      for (let pass = 1; pass <= 3; pass++) {
        openColsums(gpu);
        const jobs = jobsInto(bank, keptOut, keptIn);
        // Two calls, as two backward rules make them: every job may wait, so nothing need be recorded before the end.
        launchColsums(gpu, jobs.slice(0, 4));
        // A job that may not wait (no parameter) records at once, taking waiting jobs into its dispatch's room.
        const scratchOut = empty(gpu, [64]);
        const plain = colsumScratch(gpu, [9, 64]);
        gpu.upload(plain.view, new Float32Array(9 * 64).fill(0.5));
        launchColsums(gpu, [
          ...jobs.slice(4),
          { x: plain.view, out: scratchOut.view, R: 9, N: 64, accumulate: false, handOver: plain },
        ]);
        flushColsums(gpu);
        expect(
          `pass ${pass}: the job that may not wait`,
          await scratchOut.readF32(),
          new Float64Array(64).fill(4.5),
          TOL_REDUCE,
        );
        // The same jobs recorded at once, outside a pass (the second job into the last range in a call of its own:
        // jobs of one call must be independent).
        const ref = jobsInto(refBank, refKept, keptIn);
        launchColsums(gpu, [...ref.slice(0, SHAPES.length), ref[SHAPES.length + 1]!]);
        launchColsums(gpu, [ref[SHAPES.length]!]);
        const got = await bank.readF32();
        expect(
          `pass ${pass}: sums`,
          got,
          want.map((v) => v * pass),
          TOL_REDUCE,
        );
        expect(
          `pass ${pass}: kept input's sums`,
          await keptOut.readF32(),
          wantKept.map((v) => v * pass),
          TOL_REDUCE,
        );
        expect(
          `pass ${pass}: same bits as recorded at once`,
          [differingElements(got, await refBank.readF32())],
          [0],
          EXACT_COUNT,
        );
        expect(
          `pass ${pass}: kept input, same bits`,
          [differingElements(await keptOut.readF32(), await refKept.readF32())],
          [0],
          EXACT_COUNT,
        );
      }
      const tables = (gpu.dispatchesByKernel.get('colsum_table') ?? 0) - tables0;
      expect('table dispatches in passes 2 and 3 (the arena sized by pass 1)', [tables >= 2 ? 1 : 0], [1], EXACT_COUNT);
    });
  },
};

export const colsumChecks: Check[] = [colsumWaitCheck];
