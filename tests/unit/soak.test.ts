// Long runs: 600 updates (with periodic evaluations) of a tiny GPT-2 on the software adapter. After warm-up the GPU
// buffer pool must not grow (same buffer count and bytes at update 110 and at the end, nothing leaked in use), the
// work per update stays constant (dispatches and submits), and the JS heap stays bounded.

import { gpt2Config } from '../../src/model/gpt2/config';
import { describe, expect, it } from 'vitest';
import { Model } from '../../src/model/model';
import { gpt2Init } from '../../src/model/gpt2/params';
import { optimizerConfig } from '../../src/optim/optimizer';
import { Trainer, type TrainEvent } from '../../src/train/trainer';
import { Rng } from '../../src/util/rng';
import { getGpu } from './gpu';

const STEPS = 600;
// Past the second evaluation (update 200): the first allocates its batch shape's buffers, and the second, finding them
// free among the rest, binds its final arrangement; from then on nothing new is created.
const WARM = 210;

describe('soak', () => {
  it(`${STEPS} updates: pool buffers and bytes flat after warm-up, heap bounded`, { timeout: 900_000 }, async () => {
    const gpu = await getGpu();
    const config = gpt2Config({ vocabSize: 32, positions: 8, width: 8, layers: 1, heads: 1 });
    const host = gpt2Init(config, 3);
    const model = await Model.create(gpu, config, (n) => host.get(n)!);
    const rng = new Rng(9);
    const tokens = Uint32Array.from({ length: 4000 }, (_, i) => (i % 7 === 0 ? rng.int(32) : (i * 5) % 32));
    const trainer = new Trainer(
      model,
      { train: tokens.subarray(0, 3600), val: tokens.subarray(3600) },
      {
        batch: 2,
        ctx: 8,
        accum: 2,
        steps: STEPS,
        evalEvery: 100,
        evalWindows: 4,
        seed: 1,
        schedule: { kind: 'cosine', lr: 3e-3, warmup: 10, minLr: 3e-4 },
        optimizer: optimizerConfig('adamw'),
      },
    );
    let at: {
      stats: ReturnType<typeof gpu.pool.stats>;
      heap: number;
      dispatches: number;
      submits: number;
      bindGroups: number;
    } | null = null;
    const perUpdate: number[] = [];
    let steps = 0;
    let evals = 0;
    const losses: number[] = [];
    const onEvent = (e: TrainEvent) => {
      if (e.type === 'halt') throw new Error(e.reason);
      if (e.type === 'eval') evals++;
      if (e.type === 'step') {
        steps++;
        losses.push(e.loss);
      }
    };
    await trainer.run(onEvent, { until: WARM });
    await gpu.sync();
    at = {
      stats: gpu.pool.stats(),
      heap: process.memoryUsage().heapUsed,
      dispatches: gpu.dispatchCount,
      submits: gpu.submitCount,
      bindGroups: gpu.bindGroups.misses,
    };
    // Ten more updates alone, to measure the work per update between evaluations.
    const [d0, s0] = [gpu.dispatchCount, gpu.submitCount];
    await trainer.run(onEvent, { until: WARM + 10 });
    perUpdate.push((gpu.dispatchCount - d0) / 10);
    // Uploads (token ids, embedding buckets) are copied inside the update's batch: one submit per update.
    expect((gpu.submitCount - s0) / 10).toBe(1);
    const outcome = await trainer.run(onEvent);
    await gpu.sync();
    const end = { stats: gpu.pool.stats(), heap: process.memoryUsage().heapUsed, bindGroups: gpu.bindGroups.misses };
    console.log(
      `soak: after ${WARM} updates ${at.stats.buffers} buffers / ${at.stats.bytes} bytes (${at.stats.inUse} in use), ` +
        `after ${STEPS}: ${end.stats.buffers} / ${end.stats.bytes} (${end.stats.inUse} in use); ` +
        `heap ${(at.heap / 2 ** 20).toFixed(1)} → ${(end.heap / 2 ** 20).toFixed(1)} MiB; ${perUpdate[0]} dispatches per update; ` +
        `bind groups created ${at.bindGroups} by update ${WARM}, ${end.bindGroups - at.bindGroups} after; ` +
        `loss ${losses[0]!.toFixed(3)} → ${losses[losses.length - 1]!.toFixed(3)}`,
    );
    expect(outcome.status).toBe('done');
    expect(steps).toBe(STEPS);
    expect(evals).toBe(STEPS / 100);
    expect(end.stats.buffers).toBe(at.stats.buffers);
    expect(end.stats.bytes).toBe(at.stats.bytes);
    expect(end.stats.inUse).toBe(at.stats.inUse);
    // Bind groups are cached by the buffers they bind, and the pool hands out buffers by which are free, not by release
    // order (its free lists stay sorted by creation), so after warm-up every dispatch finds its group.
    expect(end.bindGroups - at.bindGroups).toBe(0);
    expect(end.heap - at.heap).toBeLessThan(64 * 2 ** 20);
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]!);
    trainer.dispose();
    model.dispose();
  });
});
