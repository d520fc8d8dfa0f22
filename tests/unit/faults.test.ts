// Faults during a run: parameters poisoned with NaN mid-round make a step non-finite; the pipeline discards it, rolls
// back to the last snapshot with the learning rate halved, and finishes, with losses after the rollback identical to
// a run restored from that snapshot by hand. A second non-finite step stops the run with a report saying why.

import { gpt2Config } from '../../src/model/gpt2/config';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runInheritune, type InherituneSettings, type PipelineEvent } from '../../src/inheritune/pipeline';
import type { Model } from '../../src/model/model';
import { gpt2Init } from '../../src/model/gpt2/params';
import { optimizerConfig } from '../../src/optim/optimizer';
import { lrAt } from '../../src/optim/schedule';
import { directoryStore } from '../../src/train/node-store';
import { openSnapshot, restoreTrainer, SNAPSHOT_FILE } from '../../src/train/snapshot';
import type { StepMetrics } from '../../src/train/trainer';
import { Rng } from '../../src/util/rng';
import { getGpu } from './gpu';

const refConfig = gpt2Config({ vocabSize: 64, positions: 8, width: 16, layers: 2, heads: 2 });
const refParams = gpt2Init(refConfig, 11);
const ref = { config: refConfig, read: async (n: string) => refParams.get(n)!.slice() };
const rng = new Rng(4);
const stream = Uint32Array.from({ length: 3000 }, (_, i) => (i % 5 === 0 ? rng.int(64) : (i * 7) % 64));
const data = { train: stream.subarray(0, 2700), val: stream.subarray(2700) };

// n = k: a single round of 12 updates, snapshots every 4.
const settings: InherituneSettings = {
  n: 2,
  stepsPerRound: 12,
  grow: 'restart',
  paperCode: false,
  baseline: false,
  initSeed: 5,
  checkpointEvery: 4,
  train: {
    batch: 2,
    ctx: 8,
    accum: 1,
    evalEvery: 0,
    evalWindows: 2,
    seed: 3,
    schedule: { kind: 'cosine', lr: 3e-3, warmup: 1 },
    optimizer: optimizerConfig('adamw'),
  },
};

/** Runs the pipeline, writing NaN into wte right after the step events listed in `poisonAfter` (each once). */
async function poisonedRun(dir: string, poisonAfter: number[], copySnapshotAt?: { step: number; to: string }) {
  const gpu = await getGpu();
  let live: Model | null = null;
  const pending = [...poisonAfter];
  const events: PipelineEvent[] = [];
  const result = await runInheritune(
    {
      gpu,
      ref,
      data,
      peak: null,
      store: directoryStore(dir),
      onModel: (m) => {
        live = m;
      },
      onEvent: (e) => {
        events.push(e);
        if (
          e.type === 'snapshot' &&
          copySnapshotAt &&
          e.step === copySnapshotAt.step &&
          !events.some((x) => x.type === 'rollback')
        ) {
          copyFileSync(join(dir, SNAPSHOT_FILE), join(copySnapshotAt.to, SNAPSHOT_FILE));
        }
        if (e.type === 'step' && e.step === pending[0]) {
          pending.shift();
          const wte = live!.params.get('wte.weight')!;
          gpu.upload(wte.view, new Float32Array(wte.size).fill(NaN));
        }
      },
    },
    settings,
  );
  return { result, events };
}

describe('faults', () => {
  it('a NaN mid-round rolls back to the last snapshot at half the learning rate and matches a run restored from it', {
    timeout: 300_000,
  }, async () => {
    const [a, b] = [mkdtempSync(join(tmpdir(), 'fault-a-')), mkdtempSync(join(tmpdir(), 'fault-b-'))];
    try {
      const { result, events } = await poisonedRun(a, [5], { step: 4, to: b });
      const rb = events.filter((e) => e.type === 'rollback');
      expect(rb).toHaveLength(1);
      const r = rb[0]! as Extract<PipelineEvent, { type: 'rollback' }>;
      // The step event for update 5 arrives once update 6 is already queued: the poison reaches update 7.
      expect(r).toMatchObject({ fromStep: 7, toStep: 4, lrScale: 0.5 });
      expect(r.reason).toMatch(/step 8: loss NaN; the update was not applied/);
      expect(result.report.status).toBe('done');
      expect(result.report.halt).toBeUndefined();
      const after = events.slice(events.indexOf(r)).filter((e): e is StepMetrics & PipelineEvent => e.type === 'step');
      expect(after.map((e) => e.step)).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
      const schedule = { ...settings.train.schedule, total: settings.stepsPerRound };
      for (const e of after) {
        expect(Number.isFinite(e.loss)).toBe(true);
        expect(e.lr).toBe(lrAt(schedule, e.step) * 0.5);
      }
      const finalEval = events.filter((e) => e.type === 'eval').at(-1) as { valLoss: number };

      // By hand: the snapshot at update 4, restored, at half the rate, trained to the end without faults.
      const gpu = await getGpu();
      const snap = (await openSnapshot(directoryStore(b)))!;
      const trainer = await restoreTrainer(gpu, snap, data, null);
      await snap.close();
      trainer.lrScale = 0.5;
      const losses: number[] = [];
      let valLoss = NaN;
      await trainer.run((e) => {
        if (e.type === 'step') losses.push(e.loss);
        if (e.type === 'eval') valLoss = e.valLoss;
      });
      expect(losses).toEqual(after.map((e) => e.loss));
      expect(valLoss).toBe(finalEval.valLoss);
      const model = trainer.model;
      trainer.dispose();
      model.dispose();
    } finally {
      for (const d of [a, b]) rmSync(d, { recursive: true, force: true });
    }
  });

  it('a second non-finite step after the rollback stops the run and the report says why', {
    timeout: 300_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fault-c-'));
    try {
      const { result, events } = await poisonedRun(dir, [5, 5]);
      expect(events.filter((e) => e.type === 'rollback')).toHaveLength(1);
      expect(events.filter((e) => e.type === 'halt')).toHaveLength(2);
      expect(result.report.status).toBe('halted');
      expect(result.report.halt).toMatchObject({ step: 7, rollbacks: 1 });
      expect(result.report.halt!.reason).toMatch(/loss NaN/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
