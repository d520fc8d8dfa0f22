// The Inheritune pipeline through its public API on a small synthetic reference (random 4-block GPT-2, 256-token
// vocabulary, so it runs in seconds on the software adapter): it grows 2 → 4 blocks, trains the baseline, reports; a
// run stopped mid-round and resumed from its snapshot gives exactly the uninterrupted run's events and report.

import { gpt2Config } from '../../src/model/gpt2/config';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { splitTokens } from '../../src/io/corpus';
import { runInheritune, type InherituneSettings, type PipelineEvent } from '../../src/inheritune/pipeline';
import { Model } from '../../src/model/model';
import { gpt2Init } from '../../src/model/gpt2/params';
import { Trainer } from '../../src/train/trainer';
import { optimizerConfig } from '../../src/optim/optimizer';
import { directoryStore } from '../../src/train/node-store';
import { getGpu } from './gpu';
import { trace, wholeAndResumed } from './pipeline-runs';

const text = readFileSync(new URL('../../../shared/data/tinyshakespeare.txt', import.meta.url), 'utf8').slice(
  0,
  20_000,
);
// Bytes as tokens (all < 256): a cheap vocabulary for a synthetic reference.
const tokens = Uint32Array.from(new TextEncoder().encode(text));
const data = splitTokens(tokens);
const refConfig = gpt2Config({ vocabSize: 256, positions: 16, width: 16, layers: 4, heads: 2 });
let refParams: Map<string, Float32Array> | null = null;
const ref = { config: refConfig, read: async (n: string) => refParams!.get(n)!.slice() };

/** The reference: 40 AdamW updates from init, so a few updates of a smaller model do not already beat it. */
async function trainReference(): Promise<void> {
  if (refParams) return;
  const init = gpt2Init(refConfig, 42);
  const model = await Model.create(await getGpu(), refConfig, (n) => init.get(n)!);
  const t = new Trainer(model, data, {
    ...settings('restart').train,
    steps: 40,
    schedule: { kind: 'cosine', lr: 1e-2, warmup: 2 },
  });
  await t.run(() => undefined);
  refParams = await model.toHost();
  t.dispose();
  model.dispose();
}

function settings(grow: 'restart' | 'continue'): InherituneSettings {
  return {
    n: 2,
    stepsPerRound: 3,
    grow,
    paperCode: false,
    baseline: true,
    initSeed: 5,
    checkpointEvery: 2,
    train: {
      batch: 2,
      ctx: 16,
      accum: 1,
      evalEvery: 0,
      evalWindows: 2,
      seed: 3,
      schedule: { kind: 'cosine', lr: 3e-3, warmup: 1 },
      optimizer: optimizerConfig('adamw'),
    },
  };
}

describe('the Inheritune pipeline', () => {
  for (const grow of ['restart', 'continue'] as const) {
    it(`grows 2 → 4 blocks (${grow}), trains the baseline, and resumes a stopped run exactly`, {
      timeout: 400_000,
    }, async () => {
      const gpu = await getGpu();
      await trainReference();
      // Whole, then stopped after its 5th update overall (mid round 1) and resumed from the folder: identical.
      const { result: a, events: whole } = await wholeAndResumed({ gpu, ref, data, peak: null }, settings(grow));
      const r = a.report;
      expect(r.status).toBe('done');
      expect(r.rounds.map((x) => x.n)).toEqual([2, 4]);
      expect(whole.filter((e) => e.type === 'grow')).toEqual([{ type: 'grow', from: 2, to: 4, mode: grow }]);
      expect(r.baseline?.steps).toBe(6);
      expect(r.final?.n).toBe(4);
      expect(a.final?.config.layers).toBe(4);
      // Restart re-inherits: round 1 starts from the reference itself, so its start loss is the reference's.
      if (grow === 'restart') expect(r.rounds[1]!.valLossStart).toBe(r.reference.valLoss);
      else expect(r.rounds[1]!.valLossStart).not.toBe(r.reference.valLoss);
      console.log(
        `${grow}: ${trace(whole).length} trace entries identical across stop + resume; val loss ref ${r.reference.valLoss.toFixed(4)}, ` +
          `rounds ${r.rounds.map((x) => `${x.valLossStart.toFixed(4)}→${x.valLoss.toFixed(4)}`).join(', ')}, baseline ${r.baseline!.valLoss.toFixed(4)}`,
      );
    });
  }

  it("resumes a run that died before a round's opening evaluation, reports a finished run again without training, never takes another run's grown model, and refuses other inputs", {
    timeout: 400_000,
  }, async () => {
    const gpu = await getGpu();
    await trainReference();
    const dirs = [mkdtempSync(join(tmpdir(), 'inh-c-')), mkdtempSync(join(tmpdir(), 'inh-d-'))];
    const rounds = (x: { report: { rounds: object[] } }) => x.report.rounds.map((r) => ({ ...r, seconds: 0 }));
    try {
      const grownSeen: number[] = [];
      const whole = await runInheritune(
        {
          gpu,
          ref,
          data,
          peak: null,
          store: directoryStore(dirs[0]!),
          onEvent: () => undefined,
          onFinal: (f) => grownSeen.push(f.config.layers),
        },
        settings('restart'),
      );
      // The grown model is handed over once, before the baseline trains (export gives it, not the baseline).
      expect(grownSeen).toEqual([4]);

      // Dies at round 1's first update: its last snapshot is the one taken as the round began, before the evaluation.
      await expect(
        runInheritune(
          {
            gpu,
            ref,
            data,
            peak: null,
            store: directoryStore(dirs[1]!),
            onEvent: (e) => {
              if (e.type === 'step' && e.round === 1) throw new Error('simulated crash');
            },
          },
          settings('restart'),
        ),
      ).rejects.toThrow('simulated crash');
      const resumedGrown: number[] = [];
      const resumed = await runInheritune(
        {
          gpu,
          ref,
          data,
          peak: null,
          store: directoryStore(dirs[1]!),
          onEvent: () => undefined,
          onFinal: (f) => resumedGrown.push(f.config.layers),
        },
        null,
        { resume: true },
      );
      expect(resumed.report.status).toBe('done');
      expect(rounds(resumed)).toEqual(rounds(whole));
      expect(resumedGrown).toEqual([4]);
      for (const [name, v] of whole.final!.params) expect(resumed.final!.params.get(name), name).toEqual(v);

      // The same in continue mode, whose grow hands the optimizer's count and moments to the grown model: the
      // snapshot taken as round 1 began carries them.
      const dir = mkdtempSync(join(tmpdir(), 'inh-e-'));
      dirs.push(dir, mkdtempSync(join(tmpdir(), 'inh-f-')));
      const cont = await runInheritune(
        { gpu, ref, data, peak: null, store: directoryStore(dirs.at(-1)!), onEvent: () => undefined },
        settings('continue'),
      );
      await expect(
        runInheritune(
          {
            gpu,
            ref,
            data,
            peak: null,
            store: directoryStore(dir),
            onEvent: (e) => {
              if (e.type === 'step' && e.round === 1) throw new Error('simulated crash');
            },
          },
          settings('continue'),
        ),
      ).rejects.toThrow('simulated crash');
      const contResumed = await runInheritune(
        { gpu, ref, data, peak: null, store: directoryStore(dir), onEvent: () => undefined },
        null,
        { resume: true },
      );
      expect(rounds(contResumed)).toEqual(rounds(cont));
      for (const [name, v] of cont.final!.params) expect(contResumed.final!.params.get(name), name).toEqual(v);

      // Resuming the finished run reports it again, with the same rounds and model, and trains nothing.
      const again: PipelineEvent[] = [];
      const done = await runInheritune(
        { gpu, ref, data, peak: null, store: directoryStore(dirs[1]!), onEvent: (e) => again.push(e) },
        null,
        { resume: true },
      );
      expect(done.report).toEqual(resumed.report);
      expect(again.filter((e) => e.type === 'step' || e.type === 'round-end')).toEqual([]);
      for (const [name, v] of whole.final!.params) expect(done.final!.params.get(name), name).toEqual(v);

      // A new run in the same folder, without baseline, stopped in round 1: the first run's grown model (still in
      // the folder) is not this run's, so it reports none.
      let updates = 0;
      const stopped = await runInheritune(
        {
          gpu,
          ref,
          data,
          peak: null,
          store: directoryStore(dirs[1]!),
          shouldStop: () => updates >= 4,
          onEvent: (e) => {
            if (e.type === 'step') updates++;
          },
        },
        { ...settings('restart'), baseline: false },
      );
      expect(stopped.report.status).toBe('stopped');
      expect(stopped.report.final?.n).toBe(2);
      expect(stopped.final).toBeNull();

      // Resuming with other inputs than the run started from is refused, naming which.
      const resume = (r: typeof ref, d: typeof data) =>
        runInheritune(
          { gpu, ref: r, data: d, peak: null, store: directoryStore(dirs[0]!), onEvent: () => undefined },
          null,
          { resume: true },
        );
      const train = data.train.slice().reverse();
      await expect(resume(ref, { train, val: data.val })).rejects.toThrow(
        /trained on another corpus \([\d,]+ training \+ [\d,]+ validation tokens\) than this one \([\d,]+ \+ [\d,]+, different tokens\)/,
      );
      await expect(resume(ref, { train: data.train.subarray(1), val: data.val })).rejects.toThrow(
        'trained on another corpus',
      );
      const otherRef = {
        config: refConfig,
        read: async (n: string) =>
          n === 'ln_f.bias' ? refParams!.get(n)!.map((v) => v + 1e-3) : refParams!.get(n)!.slice(),
      };
      await expect(resume(otherRef, data)).rejects.toThrow(
        'the snapshot was trained from another reference checkpoint than this one',
      );
      // The same reference with its config's keys in another order (a reload builds it from config.json) is accepted.
      const { heads, layers, width, positions, vocabSize, headDim, family } = refConfig;
      expect(
        (await resume({ ...ref, config: { heads, layers, width, positions, vocabSize, headDim, family } }, data)).report
          .status,
      ).toBe('done');
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });
});
