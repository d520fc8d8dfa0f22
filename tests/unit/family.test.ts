// The model-family seam: a second family registered from the test folder (toy-family.ts: its own names, config.json
// and byte tokenizer) runs the whole recipe through the public API: inherit → train → grow → baseline → export →
// reload → eval, in the pipeline, the CLI's eval command and the worker's engine. And the pipeline's decisions
// (rounds.ts) as the pure functions they are.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { splitTokens } from '../../src/io/corpus';
import { bytesSource } from '../../src/io/safetensors';
import { runInheritune } from '../../src/inheritune/pipeline';
import { type InherituneSettings, nextRound, type RoundResult, type RoundsState } from '../../src/inheritune/rounds';
import { exportCheckpoint, openCheckpoint } from '../../src/model/checkpoint';
import { Model } from '../../src/model/model';
import { paramCount } from '../../src/model/params';
import { registerFamily } from '../../src/model/registry';
import { optimizerConfig } from '../../src/optim/optimizer';
import { validationLoss } from '../../src/train/evaluate';
import { memoryStore } from '../../src/train/memory-store';
import { Trainer } from '../../src/train/trainer';
import { Engine } from '../../src/worker/engine';
import type { WorkerEvent } from '../../src/worker/protocol';
import { acquireNodeDevice } from '../../src/gpu/node';
import { evalJson } from './cli-in-process';
import { getGpu } from './gpu';
import { byteTokenizer, toy, toyConfig } from './toy-family';

registerFamily(toy);

const TEXT = readFileSync(join(__dirname, '../../../shared/data/tinyshakespeare.txt'), 'utf8').slice(0, 30_000);
const refConfig = toyConfig({ vocabSize: 256, positions: 16, width: 32, layers: 4, heads: 2 });

const train = (steps: number, lr = 1e-2) => ({
  batch: 2,
  ctx: 16,
  accum: 1,
  steps,
  evalEvery: 0,
  evalWindows: 16,
  seed: 3,
  schedule: { kind: 'cosine' as const, lr, warmup: 0 },
  optimizer: optimizerConfig('adamw'),
});

let refParams: Map<string, Float32Array> | null = null;
/** A toy reference trained 100 updates from init, so 2 of its blocks do not match it after 2 small updates. */
async function reference(data: { train: Uint32Array; val: Uint32Array }) {
  if (!refParams) {
    const init = toy.init(refConfig, 7);
    const model = await Model.create(await getGpu(), refConfig, (n) => init.get(n)!);
    const t = new Trainer(model, data, train(100));
    await t.run(() => undefined);
    refParams = await model.toHost();
    t.dispose();
    model.dispose();
  }
  return refParams;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('a second model family, registered from the tests', () => {
  it('inherits, trains, grows, trains the baseline, exports, reloads and evaluates through the public API', async () => {
    const data = splitTokens(await byteTokenizer.encode(TEXT));
    const params = await reference(data);
    const settings: InherituneSettings = {
      n: 2,
      stepsPerRound: 2,
      grow: 'continue',
      paperCode: true,
      baseline: true,
      initSeed: 5,
      checkpointEvery: 0,
      // Small steps: the rounds' models stay near what they inherited, worse than the whole reference until k.
      train: (({ steps: _, ...t }) => t)(train(2, 1e-5)),
    };
    const events: string[] = [];
    const result = await runInheritune(
      {
        gpu: await getGpu(),
        ref: { config: refConfig, read: async (n) => params.get(n)!.slice() },
        data,
        peak: null,
        store: memoryStore(),
        onEvent: (e) => events.push(e.type === 'grow' ? `grow ${e.from}→${e.to}` : e.type),
      },
      settings,
    );
    const { report, final } = result;
    console.log(
      `toy family: reference ${report.reference.valLoss}, rounds ${report.rounds.map((r) => `n=${r.n} ${r.valLoss}`).join(', ')}, baseline ${report.baseline?.valLoss}`,
    );
    expect(report.status).toBe('done');
    expect(report.rounds.map((r) => r.n)).toEqual([2, 4]);
    expect(events).toContain('grow 2→4');
    expect(report.baseline?.n).toBe(4);
    expect(report.rounds[0]!.params).toBe(paramCount(toyConfig({ ...refConfig, layers: 2 })));
    expect(final?.config).toEqual(refConfig);

    // Export → the registry picks the family from config.json → the same model → the same validation loss.
    const { safetensors, configJson } = exportCheckpoint(final!.config, final!.params);
    const bytes = new Uint8Array(await new Blob(safetensors).arrayBuffer());
    const back = await openCheckpoint(bytesSource(bytes), { configJson });
    expect(back.family.id).toBe('toy');
    expect(back.config).toEqual(refConfig);
    const model = await Model.create(await getGpu(), back.config, (n) => back.read(n));
    const val = await validationLoss(model, data.val, 16, 16);
    model.dispose();
    expect(val).toBe(report.final!.valLoss);

    // The CLI's eval on the exported folder: the family's tokenizer encodes the corpus; the same loss.
    const dir = mkdtempSync(join(tmpdir(), 'toy-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'model.safetensors'), bytes);
    writeFileSync(join(dir, 'config.json'), configJson);
    writeFileSync(join(dir, 'corpus.txt'), TEXT);
    const json = await evalJson(['--model', dir, '--data', join(dir, 'corpus.txt'), '--ctx', '16', '--windows', '16']);
    expect(json.layers).toBe(4);
    expect(json.val_loss).toBe(val);
  }, 600_000);

  it('runs in the engine: the corpus is re-encoded with the family tokenizer, analysed, trained, exported', async () => {
    const data = splitTokens(await byteTokenizer.encode(TEXT));
    const params = await reference(data);
    const { safetensors, configJson } = exportCheckpoint(refConfig, params);
    const events: WorkerEvent[] = [];
    const engine = new Engine((e) => events.push(e), {
      acquire: () => acquireNodeDevice(),
      demoCorpus: async () => TEXT,
      runStore: async () => memoryStore(),
    });
    await engine.handle({ type: 'init' });
    // The corpus first: encoded with GPT-2's BPE (no reference yet), then again in bytes once the toy one arrives.
    await engine.handle({ type: 'load-corpus', file: new File([TEXT], 'corpus.txt') });
    await engine.handle({
      type: 'load-checkpoint',
      files: [new File(safetensors, 'model.safetensors'), new File([configJson], 'config.json')],
    });
    const errors = () => events.filter((e) => e.type === 'error' && e.scope !== 'storage');
    expect(errors()).toEqual([]);
    const corpora = events.flatMap((e) => (e.type === 'corpus' ? [e.info] : []));
    expect(corpora.map((c) => c.tokenizer)).toEqual(['gpt2', 'bytes']);
    expect(corpora[1]!.tokens).toBe(new TextEncoder().encode(TEXT).length);
    const ref = events.find((e) => e.type === 'reference');
    expect(ref?.type === 'reference' && ref.info).toMatchObject({ family: 'Toy', layers: 4, widestActivation: 128 });

    await engine.handle({ type: 'analyze', ctx: 16, windows: 2 });
    expect(errors()).toEqual([]);
    const analysis = events.find((e) => e.type === 'analysis');
    expect(analysis?.type === 'analysis' && analysis.report.layers.length).toBe(4);

    const { defaultRunSettings } = await import('../../src/settings/schema');
    const s = { ...defaultRunSettings(), n: 2, stepsPerRound: 2, ctx: 16, batch: 2, warmup: 0, evalWindows: 2 };
    await engine.handle({ type: 'start', settings: s });
    expect(errors()).toEqual([]);
    expect(events.filter((e) => e.type === 'stage').map((e) => e.type === 'stage' && e.stage)).toEqual([
      'running',
      'done',
    ]);
    const models = events.filter((e) => e.type === 'models').at(-1);
    expect(models?.type === 'models' && models.current).toMatch(/grown model \(\d blocks\)/);
    await engine.handle({ type: 'sample', prompt: 'To', tokens: 3, temperature: 0, topK: 0 });
    expect(events.filter((e) => e.type === 'sample').at(-1)).toMatchObject({ done: true });
    await engine.handle({ type: 'export', what: 'model' });
    const exp = events.find((e) => e.type === 'export');
    if (exp?.type !== 'export') throw new Error('no export');
    const back = await openCheckpoint(bytesSource(new Uint8Array(await exp.files[0]!.blob.arrayBuffer())), {
      configJson: await exp.files[1]!.blob.text(),
    });
    expect(back.family.id).toBe('toy');
    expect(errors()).toEqual([]);
  }, 600_000);
});

describe('the recipe’s decisions (rounds.ts), without a GPU', () => {
  const settings = { baseline: false, grow: 'restart' } as InherituneSettings;
  const state = (over: Partial<RoundsState['settings']>, rounds: Partial<RoundResult>[]): RoundsState => ({
    settings: { ...settings, ...over },
    reference: { layers: 7, params: 1, valLoss: 3 },
    rounds: rounds.map((r) => ({
      phase: 'inheritune',
      round: 0,
      n: 2,
      params: 1,
      steps: 10,
      valLossStart: 9,
      valLoss: 4,
      seconds: 1,
      ...r,
    })),
  });
  const last = (s: RoundsState) => s.rounds.at(-1)!;

  it('grows by two while the validation loss is above the reference’s, by one when one block is left', () => {
    const a = state({}, [{ n: 2, valLoss: 3.5 }]);
    expect(nextRound(a, last(a))).toEqual({ kind: 'grow', from: 2, to: 4, mode: 'restart' });
    const b = state({ grow: 'continue' }, [{ n: 6, valLoss: 3.5 }]);
    expect(nextRound(b, last(b))).toEqual({ kind: 'grow', from: 6, to: 7, mode: 'continue' });
  });

  it('stops once the loss matches (equal counts) or every block is in; the baseline follows for as many updates', () => {
    const matched = state({}, [{ n: 2, valLoss: 3 }]);
    expect(nextRound(matched, last(matched))).toEqual({ kind: 'done' });
    const full = state({}, [{ n: 7, valLoss: 3.5 }]);
    expect(nextRound(full, last(full))).toEqual({ kind: 'done' });
    const withBaseline = state({ baseline: true }, [
      { n: 3, steps: 10, valLoss: 3.5 },
      { n: 5, steps: 10, round: 1, valLoss: 3.2 },
      { n: 7, steps: 12, round: 2, valLoss: 3.1 },
    ]);
    expect(nextRound(withBaseline, last(withBaseline))).toEqual({
      kind: 'baseline',
      baseline: 'scratch',
      stage: 0,
      plan: { layers: 7, steps: 32, init: 'scratch' },
    });
    const baselineDone = state({ baseline: true }, [{ n: 7, phase: 'baseline', valLoss: 5 }]);
    expect(nextRound(baselineDone, last(baselineDone))).toEqual({ kind: 'done' });
  });
});
