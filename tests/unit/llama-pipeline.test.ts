// The Inheritune recipe on a Llama-family reference through the public API (a small synthetic Llama: 4 layers,
// 2 query heads and 1 key/value head, a 256-token byte vocabulary, so it runs in seconds on the software adapter):
// inherit 2 → train → grow to 4 (continue with Muon on the hidden matrices and the paper-code init; restart with
// AdamW) → baseline with the family's init → report; a run stopped mid-round and resumed from its snapshot gives
// exactly the uninterrupted run's events and final model; the grown model exports to transformers' layout and reloads
// to the same validation loss. And the MFU count follows DESIGN.md for a tied Llama (the shared embedding once).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { splitTokens } from '../../src/io/corpus';
import { bytesSource } from '../../src/io/safetensors';
import type { InherituneSettings } from '../../src/inheritune/pipeline';
import { exportCheckpoint, openCheckpoint } from '../../src/model/checkpoint';
import { llamaFromHf } from '../../src/model/llama';
import { llamaInit, llamaParams } from '../../src/model/llama/params';
import { Model } from '../../src/model/model';
import { optimizerConfig } from '../../src/optim/optimizer';
import { validationLoss } from '../../src/train/evaluate';
import { flopsPerToken } from '../../src/train/mfu';
import { Trainer } from '../../src/train/trainer';
import { getGpu } from './gpu';
import { trace, wholeAndResumed } from './pipeline-runs';

const text = readFileSync(join(__dirname, '../../../shared/data/tinyshakespeare.txt'), 'utf8').slice(0, 20_000);
const data = splitTokens(Uint32Array.from(new TextEncoder().encode(text)));
const refConfig = llamaFromHf({
  model_type: 'llama',
  vocab_size: 256,
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 4,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  max_position_embeddings: 16,
  rms_norm_eps: 1e-5,
});
let refParams: Map<string, Float32Array> | null = null;
const ref = { config: refConfig, read: async (n: string) => refParams!.get(n)!.slice() };

function settings(grow: 'restart' | 'continue'): InherituneSettings {
  return {
    n: 2,
    stepsPerRound: 3,
    grow,
    paperCode: grow === 'continue',
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
      optimizer: optimizerConfig(grow === 'continue' ? 'muon' : 'adamw'),
    },
  };
}

async function trainReference(): Promise<void> {
  if (refParams) return;
  const init = llamaInit(refConfig, 42);
  const model = await Model.create(await getGpu(), refConfig, (n) => init.get(n)!);
  const t = new Trainer(model, data, {
    ...settings('restart').train,
    steps: 200,
    schedule: { kind: 'cosine', lr: 1e-2, warmup: 2 },
  });
  await t.run(() => undefined);
  refParams = await model.toHost();
  t.dispose();
  model.dispose();
}

describe('Inheritune on a Llama-family reference', () => {
  for (const grow of ['continue', 'restart'] as const) {
    it(`grows 2 → 4 (${grow}), trains the baseline, resumes a stopped run exactly, exports and reloads`, {
      timeout: 400_000,
    }, async () => {
      const gpu = await getGpu();
      await trainReference();
      const { result: a, events: whole } = await wholeAndResumed({ gpu, ref, data, peak: null }, settings(grow));
      const r = a.report;
      expect(r.status).toBe('done');
      expect(r.rounds.map((x) => x.n)).toEqual([2, 4]);
      expect(r.baseline?.steps).toBe(6);
      expect(a.final?.config.layers).toBe(4);
      if (grow === 'restart') expect(r.rounds[1]!.valLossStart).toBe(r.reference.valLoss);

      // Export → reload → the same validation loss as the report's final model.
      const { safetensors, configJson } = exportCheckpoint(a.final!.config, a.final!.params);
      const bytes = new Uint8Array(await new Blob(safetensors as BlobPart[]).arrayBuffer());
      const back = await openCheckpoint(bytesSource(bytes), { configJson });
      expect(JSON.parse(configJson).num_hidden_layers).toBe(4);
      const model = await Model.create(gpu, back.config, (n) => back.read(n));
      const loss = await validationLoss(model, data.val, 16, 2);
      model.dispose();
      expect(loss).toBe(r.final!.valLoss);
      console.log(
        `llama ${grow}: ${trace(whole).length} trace entries identical across stop + resume; ref ${r.reference.valLoss.toFixed(4)}, ` +
          `rounds ${r.rounds.map((x) => `${x.valLossStart.toFixed(4)}→${x.valLoss.toFixed(4)}`).join(', ')}, baseline ${r.baseline!.valLoss.toFixed(4)}`,
      );
    });
  }

  it('kd and kd-hidden train a Llama student from the Llama reference (untied head); kd-hidden lines its states up', {
    timeout: 300_000,
  }, async () => {
    const gpu = await getGpu();
    await trainReference();
    const student = { ...refConfig, layers: 2 };
    const init = llamaInit(student, 4);
    const teacher = await Model.create(gpu, refConfig, (n) => refParams!.get(n)!);
    const self = await Model.create(gpu, student, (n) => init.get(n)!);
    const losses = async (t0: Model, hidden?: number) => {
      const model = await Model.create(gpu, student, (n) => init.get(n)!);
      const t = new Trainer(model, data, { ...settings('restart').train, steps: 3 });
      t.setDistillation({ teacher: t0, alpha: 0.5, tau: 2, ...(hidden !== undefined ? { hidden } : {}) });
      const out: number[] = [];
      await t.run((e) => {
        if (e.type === 'step') out.push(e.loss);
      });
      t.dispose();
      model.dispose();
      return out;
    };
    try {
      const [kd, hidden] = [await losses(teacher), await losses(teacher, 1)];
      for (const l of [...kd, ...hidden]) expect(Number.isFinite(l)).toBe(true);
      // Against the 4-block reference the cosine term costs something from the first step (random blocks 0, 1
      // against the reference's blocks 1, 3); against a copy of the student itself it costs nothing at first.
      expect(hidden[0]! - kd[0]!).toBeGreaterThan(0.01);
      const [kdSelf, hiddenSelf] = [await losses(self), await losses(self, 1)];
      expect(Math.abs(hiddenSelf[0]! - kdSelf[0]!)).toBeLessThan(1e-5);
    } finally {
      teacher.dispose();
      self.dispose();
    }
  });

  it('counts FLOPs per token as DESIGN.md says: 6N + 12·L·H·D·T, a tied embedding once', () => {
    const tied = { ...refConfig, tied: true };
    const N = llamaParams(tied).reduce((s, p) => s + p.size, 0);
    expect(llamaParams(tied).some((p) => p.name === 'lm_head.weight')).toBe(false);
    expect(flopsPerToken(tied, 16)).toBe(6 * N + 12 * 4 * 2 * 8 * 16);
  });
});
