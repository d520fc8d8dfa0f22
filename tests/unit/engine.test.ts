// The worker's engine driven through the protocol in Node (real WebGPU on the software adapter, an in-memory run
// folder instead of OPFS): loading the fixture and a corpus, the reference's val loss against PyTorch, a short
// Inheritune run with its events, pause + resume giving the same losses as an uninterrupted run, resuming a saved run
// in a fresh engine (a page reload), sampling, exports that parse, and specific errors for bad files and settings.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireNodeDevice } from '../../src/gpu/node';
import { openCheckpoint } from '../../src/model/checkpoint';
import { bytesSource } from '../../src/io/safetensors';
import { writeSafetensors } from '../../src/io/safetensors-write';
import { memoryStore } from '../../src/train/memory-store';
import { Engine, type EngineEnv } from '../../src/worker/engine';
import type { Command, MetricPoint, RunSettings, WorkerEvent } from '../../src/worker/protocol';
import { defaultRunSettings } from '../../src/settings/schema';

const FIX = join(__dirname, '../../../shared/fixtures');
const TEXT = readFileSync(join(__dirname, '../../../shared/data/tinyshakespeare.txt'), 'utf8');
const file = (path: string, name = path.split('/').at(-1)!) => new File([readFileSync(path)], name);

/** An engine with its event log; `until` waits for an event matching a predicate. */
function harness(store = memoryStore(), onEvent?: (e: WorkerEvent) => void, env: Partial<EngineEnv> = {}) {
  const events: WorkerEvent[] = [];
  const devices: GPUDevice[] = [];
  const waiters: { pred: (e: WorkerEvent) => boolean; resolve: (e: WorkerEvent) => void }[] = [];
  const engine = new Engine(
    (e) => {
      events.push(e);
      onEvent?.(e);
      for (const w of [...waiters])
        if (w.pred(e)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(e);
        }
    },
    {
      acquire: async () => {
        const a = await acquireNodeDevice();
        devices.push(a.device);
        return a;
      },
      demoCorpus: async () => TEXT.slice(0, 60_000),
      runStore: async () => store,
      ...env,
    },
  );
  const send = (c: Command) => engine.handle(c);
  const until = (pred: (e: WorkerEvent) => boolean) =>
    new Promise<WorkerEvent>((resolve) => {
      const hit = events.find(pred);
      if (hit) resolve(hit);
      else waiters.push({ pred, resolve });
    });
  const errors = () => events.filter((e) => e.type === 'error' && e.scope !== 'storage');
  const points = () => events.flatMap((e) => (e.type === 'metrics' ? e.points : [])) as MetricPoint[];
  return { engine, events, send, until, errors, points, store, devices };
}

let uninterrupted: number[] = [];
const small: RunSettings = {
  ...defaultRunSettings(),
  n: 1,
  stepsPerRound: 4,
  ctx: 16,
  batch: 2,
  warmup: 0,
  evalEvery: 0,
  evalWindows: 2,
  checkpointEvery: 0,
};

async function loaded(h: ReturnType<typeof harness>) {
  await h.send({ type: 'init' });
  await h.send({
    type: 'load-checkpoint',
    files: [file(join(FIX, 'tiny-2L/model.safetensors')), file(join(FIX, 'tiny-2L/config.json'))],
  });
  await h.send({ type: 'load-corpus', file: new File([TEXT], 'tinyshakespeare.txt') });
}

describe('engine (the worker behind the UI) on tiny-2L', () => {
  it('loads the fixture and the corpus; the reference val loss matches PyTorch; the analysis covers every head', async () => {
    const h = harness();
    await loaded(h);
    expect(h.errors()).toEqual([]);
    const ready = h.events.find((e) => e.type === 'ready');
    expect(ready && ready.type === 'ready' && ready.adapter.name).toBeTruthy();
    const ref = h.events.find((e) => e.type === 'reference');
    expect(ref?.type === 'reference' && ref.info).toMatchObject({
      layers: 2,
      width: 32,
      heads: 2,
      positions: 64,
      vocab: 50257,
      dtype: 'F32',
      origin: 'file',
    });
    const corpus = h.events.find((e) => e.type === 'corpus');
    expect(corpus?.type === 'corpus' && corpus.info.tokens).toBeGreaterThan(300_000);
    const expected = JSON.parse(readFileSync(join(FIX, 'tiny-2L/expected.json'), 'utf8')) as {
      ctx: number;
      windows: number;
      full: number;
    };
    await h.send({ type: 'analyze', ctx: expected.ctx, windows: expected.windows });
    expect(h.errors()).toEqual([]);
    const val = h.events.find((e) => e.type === 'reference-val');
    expect(val?.type === 'reference-val' && Math.abs(val.valLoss - expected.full)).toBeLessThan(1e-3);
    const analysis = h.events.find((e) => e.type === 'analysis');
    expect(analysis?.type === 'analysis' && analysis.report.layers.map((l) => l.heads.length)).toEqual([2, 2]);
    expect(h.events.some((e) => e.type === 'progress' && e.task === 'tokenizing')).toBe(true);
    // Nothing to sample or export yet: the page keeps those buttons disabled.
    expect(h.events.filter((e) => e.type === 'models').at(-1)).toEqual({ type: 'models', current: null, log: false });
  }, 600_000);

  it('runs Inheritune (n=1 → grow to 2), then exports a model that parses and a log; pause + resume repeats the same losses', async () => {
    const a = harness();
    await loaded(a);
    await a.send({ type: 'start', settings: small });
    expect(a.errors()).toEqual([]);
    const stages = a.events.filter((e) => e.type === 'stage').map((e) => e.type === 'stage' && e.stage);
    expect(stages).toEqual(['running', 'done']);
    const steps = a.points().filter((p) => p.kind === 'step');
    expect(steps.map((p) => [p.round, p.n, p.x])).toEqual([
      [0, 1, 0],
      [0, 1, 1],
      [0, 1, 2],
      [0, 1, 3],
      [1, 2, 4],
      [1, 2, 5],
      [1, 2, 6],
      [1, 2, 7],
    ]);
    uninterrupted = steps.map((p) => p.loss);
    expect(steps.every((p) => Number.isFinite(p.loss) && p.tokens === 32)).toBe(true);
    expect(a.events.some((e) => e.type === 'grow' && e.from === 1 && e.to === 2)).toBe(true);
    // While training, Sample and Export use the model training now; once the rounds end, the grown one.
    const models = a.events.flatMap((e) => (e.type === 'models' ? [e.current] : []));
    expect(models).toContain('the model training now (1 block)');
    expect(models.at(-1)).toBe('the grown model (2 blocks)');
    expect(a.events.filter((e) => e.type === 'models').at(-1)).toMatchObject({ log: true });
    const report = a.events.find((e) => e.type === 'report');
    expect(report?.type === 'report' && report.report.rounds.map((r) => r.n)).toEqual([1, 2]);
    // Each snapshot (one per round here) shows a bar that then ends.
    const saving = a.events
      .filter((e) => (e.type === 'progress' || e.type === 'progress-end') && e.task === 'saving a checkpoint')
      .map((e) => e.type);
    expect(saving.filter((t) => t === 'progress-end').length).toBeGreaterThanOrEqual(2);
    expect(saving.at(-1)).toBe('progress-end');

    await a.send({ type: 'export', what: 'model' });
    const exp = a.events.find((e) => e.type === 'export');
    expect(exp?.type === 'export' && exp.files.map((f) => f.name)).toEqual(['model.safetensors', 'config.json']);
    if (exp?.type !== 'export') throw new Error('no export');
    const ckpt = await openCheckpoint(bytesSource(new Uint8Array(await exp.files[0]!.blob.arrayBuffer())), {
      configJson: await exp.files[1]!.blob.text(),
    });
    expect(ckpt.config).toMatchObject({ layers: 2, width: 32, heads: 2 });
    await a.send({ type: 'export', what: 'log-csv' });
    const csv = a.events.filter((e) => e.type === 'export').at(-1);
    if (csv?.type !== 'export') throw new Error('no csv');
    expect(
      (await csv.files[0]!.blob.text())
        .trim()
        .split('\n')
        .filter((l) => /^inheritune,\d+,step,/.test(l)),
    ).toHaveLength(8);

    // The same run paused after its first update (two more are in flight, so it stops mid-round) and resumed.
    const b = harness();
    await loaded(b);
    const run = b.send({ type: 'start', settings: small });
    await b.until((e) => e.type === 'metrics' && e.points.some((p) => p.kind === 'step'));
    await b.send({ type: 'pause' });
    await run;
    expect(b.events.filter((e) => e.type === 'stage').map((e) => e.type === 'stage' && e.stage)).toEqual([
      'running',
      'pausing',
      'paused',
    ]);
    const pausedAt = b.points().filter((p) => p.kind === 'step').length;
    expect(pausedAt).toBeGreaterThan(0);
    expect(pausedAt).toBeLessThan(4);
    await b.send({ type: 'resume' });
    expect(b.errors()).toEqual([]);
    expect(
      b
        .points()
        .filter((p) => p.kind === 'step')
        .map((p) => p.loss),
    ).toEqual(steps.map((p) => p.loss));
  }, 900_000);

  it('a fresh engine (a reloaded page) finds the saved run, resumes it and finishes with the same losses', async () => {
    const a = harness();
    await loaded(a);
    const run = a.send({ type: 'start', settings: small });
    await a.until((e) => e.type === 'round-start' && e.round === 1);
    await a.send({ type: 'pause' });
    await run;
    const before = a
      .points()
      .filter((p) => p.kind === 'step')
      .map((p) => p.loss);
    // Round 1's first updates were already recorded when the pause arrived: it stops mid-round.
    expect(before.length).toBeGreaterThan(4);
    expect(before.length).toBeLessThan(8);

    const b = harness(a.store);
    await b.send({ type: 'init' });
    const ready = b.events.find((e) => e.type === 'ready');
    expect(ready?.type === 'ready' && ready.saved).toMatchObject({
      reference: 'model.safetensors',
      corpus: 'tinyshakespeare.txt',
      phase: 'inheritune',
      round: 1,
    });
    // Before resuming, the log export gives the saved run's log (it used to say there was none).
    const exportedLog = async (h: ReturnType<typeof harness>) => {
      const at = h.events.length;
      await h.send({ type: 'export', what: 'log-json' });
      const e = h.events.slice(at).find((x) => x.type === 'export');
      expect(e, JSON.stringify(h.events.slice(at))).toBeDefined();
      const log = JSON.parse(await (e as Extract<WorkerEvent, { type: 'export' }>).files[0]!.blob.text()) as {
        type: string;
        loss?: number;
      }[];
      return log.filter((x) => x.type === 'step').map((x) => x.loss);
    };
    expect(await exportedLog(b)).toEqual(before);
    await b.send({ type: 'resume' });
    expect(b.errors()).toEqual([]);
    expect(b.events.filter((e) => e.type === 'stage').map((e) => e.type === 'stage' && e.stage)).toEqual([
      'running',
      'done',
    ]);
    expect(b.events.filter((e) => e.type === 'reference').length).toBe(1); // the reference came back from the run folder
    // The resumed engine first replays the saved log (the steps before the reload), then trains the rest.
    // Both rounds' markers are back: round 0's from the saved log, round 1's from the log and again from the resume.
    expect(b.events.flatMap((e) => (e.type === 'round-start' ? [`${e.round}@${e.x}`] : []))).toEqual([
      '0@0',
      '1@4',
      '1@4',
    ]);
    const all = b
      .points()
      .filter((p) => p.kind === 'step')
      .map((p) => p.loss);
    expect(all.slice(0, before.length)).toEqual(before);
    expect(all).toEqual(uninterrupted);
    // A finished run is no longer offered for resuming.
    const d = harness(a.store);
    await d.send({ type: 'init' });
    expect(d.events.find((e) => e.type === 'ready')).toMatchObject({ saved: null });
    // The finished run's log is still there to export after another reload.
    expect(await exportedLog(d)).toEqual(uninterrupted);

    await b.send({ type: 'sample', prompt: 'ROMEO:', tokens: 5, temperature: 0, topK: 0 });
    const text = b.events
      .filter((e) => e.type === 'sample')
      .map((e) => (e.type === 'sample' ? e.text : ''))
      .join('');
    expect(b.events.filter((e) => e.type === 'sample').at(-1)).toMatchObject({ done: true });
    expect(text.length).toBeGreaterThan(0);
    expect(b.errors()).toEqual([]);
  }, 900_000);

  it('a GPU device lost mid-run is re-acquired and the run resumes from its last snapshot, ending with the uninterrupted losses', async () => {
    let lostOnce = false;
    const h = harness(memoryStore(), (e) => {
      // The device goes away right after the round-0 snapshot at update 2 (as after a driver reset).
      if (e.type === 'snapshot' && e.step === 2 && !lostOnce) {
        lostOnce = true;
        h.devices[0]!.destroy();
      }
    });
    await loaded(h);
    await h.send({ type: 'start', settings: { ...small, checkpointEvery: 2 } });
    expect(lostOnce).toBe(true);
    expect(h.devices).toHaveLength(2); // a second device was acquired
    const notices = h.errors().map((e) => (e.type === 'error' ? e.message : ''));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(
      /GPU device lost .*Acquiring a new GPU device and resuming from the last checkpoint \(recovery 1 of 2\)/,
    );
    const stages = h.events.filter((e) => e.type === 'stage').map((e) => e.type === 'stage' && e.stage);
    expect(stages[0]).toBe('running');
    expect(stages.at(-1)).toBe('done');
    // Points arrive again for the updates redone after the snapshot: the last one per position is the run's.
    const last = new Map<string, number>();
    for (const p of h.points().filter((q) => q.kind === 'step')) last.set(`${p.round}:${p.x}`, p.loss);
    expect([...last.values()]).toEqual(uninterrupted);
  }, 900_000);

  it('names what is wrong with bad files and settings, and keeps what was loaded', async () => {
    // Another tab's run holds the run folder until `otherTab` is cleared (the browser's Web Lock, here a flag).
    let otherTab = true;
    const h = harness(memoryStore(), undefined, { claimRun: async () => (otherTab ? null : () => undefined) });
    await loaded(h);
    const errorAfter = async (cmd: Command) => {
      const n = h.events.length;
      await h.send(cmd);
      const e = h.events.slice(n).find((x) => x.type === 'error');
      return e?.type === 'error' ? e : null;
    };
    // Every refusal carries a code the page can act on, not only words.
    const codeAfter = async (cmd: Command) => (await errorAfter(cmd))?.code;
    const garbage = new File([new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])], 'model.safetensors');
    expect((await errorAfter({ type: 'load-checkpoint', files: [garbage] }))?.message).toMatch(
      /model\.safetensors: .*header/i,
    );
    expect(
      (await errorAfter({ type: 'load-checkpoint', files: [new File(['x'], 'pytorch_model.bin')] }))?.message,
    ).toMatch(/not a checkpoint.*safetensors/);
    expect(
      (await errorAfter({ type: 'load-corpus', file: new File([new Uint8Array([0x66, 0, 0x67])], 'data.txt') }))
        ?.message,
    ).toMatch(/binary/);
    expect(
      (await errorAfter({ type: 'load-corpus', file: new File([new Uint8Array([0xff, 0xfe, 0x41])], 'latin.txt') }))
        ?.message,
    ).toMatch(/not valid UTF-8/);
    expect((await errorAfter({ type: 'load-corpus', file: new File([' \n\n '], 'blank.txt') }))?.message).toMatch(
      /blank\.txt is empty \(only whitespace\)/,
    );
    const llama = new File(
      writeSafetensors([{ name: 'model.layers.0.self_attn.q_proj.weight', shape: [2, 2], data: new Float32Array(4) }]),
      'model.safetensors',
    );
    expect((await errorAfter({ type: 'load-checkpoint', files: [llama] }))?.message).toMatch(
      /not a checkpoint Inheritune Studio reads \(GPT-2 .*Llama-family .*\); found 1 tensors such as model\.layers\.0\.self_attn\.q_proj\.weight/,
    );
    const config = JSON.parse(readFileSync(join(FIX, 'tiny-2L/config.json'), 'utf8')) as Record<string, unknown>;
    const wrongConfig = new File([JSON.stringify({ ...config, n_embd: 64 })], 'config.json');
    expect(
      (
        await errorAfter({
          type: 'load-checkpoint',
          files: [file(join(FIX, 'tiny-2L/model.safetensors')), wrongConfig],
        })
      )?.message,
    ).toMatch(/config\.json disagrees with the tensors: n_embd is 64 in config\.json but 32 in the checkpoint/);
    expect((await errorAfter({ type: 'start', settings: small }))?.message).toMatch(
      /A run is under way in another tab/,
    );
    expect(await codeAfter({ type: 'start', settings: small })).toBe('not-allowed');
    otherTab = false;
    expect(await codeAfter({ type: 'load-checkpoint', files: [garbage] })).toBe('bad-file');
    expect(await codeAfter({ type: 'load-checkpoint', files: [llama] })).toBe('bad-file');
    expect(
      await codeAfter({ type: 'load-checkpoint', files: [file(join(FIX, 'tiny-2L/model.safetensors')), wrongConfig] }),
    ).toBe('bad-config');
    expect(await codeAfter({ type: 'start', settings: { ...small, n: 0 } })).toBe('settings');
    expect(await codeAfter({ type: 'export', what: 'model' })).toBe('no-model');
    expect(await codeAfter({ type: 'pause' })).toBeUndefined(); // nothing to pause: nothing happens
    expect((await errorAfter({ type: 'start', settings: { ...small, n: 0 } }))?.message).toMatch(
      /n must be at least 1 \(n = 0 inherits no transformer block\): pick 1 to 1/,
    );
    expect((await errorAfter({ type: 'start', settings: { ...small, n: 2 } }))?.message).toMatch(
      /n = 2 inherits the whole 2-block reference and leaves nothing to grow: pick 1 to 1/,
    );
    expect((await errorAfter({ type: 'start', settings: { ...small, n: 3 } }))?.message).toMatch(
      /n = 3 is more than the reference's 2 blocks/,
    );
    expect((await errorAfter({ type: 'start', settings: { ...small, ctx: 65 } }))?.message).toMatch(
      /context must be a whole number from 1 to 64 \(the reference's positions\), got 65/,
    );
    // 40,000 × 64 tokens × 128 floats (the MLP's 4·32) = 1.22 GiB, over the software adapter's 1 GiB binding limit.
    expect((await errorAfter({ type: 'start', settings: { ...small, batch: 40_000, ctx: 64 } }))?.message).toMatch(
      /batch 40000 × context 64 needs a 1\.22 GiB activation buffer .* over this adapter's max\w+ of 1\.00 GiB by 226\.\d MiB: use batch ≤ 32768/,
    );
    expect(h.events.filter((e) => e.type === 'stage')).toEqual([]); // nothing started
    expect((await errorAfter({ type: 'export', what: 'model' }))?.message).toMatch(/no trained model/);
    // The good reference and corpus are still there: a valid run starts.
    expect(h.events.filter((e) => e.type === 'reference')).toHaveLength(1);
    // While it analyses, the engine says so (the UI holds back what it would refuse) and refuses a load, which would
    // change what the analysis reports on.
    const before = h.events.length;
    const analysing = h.send({ type: 'analyze', ctx: 16, windows: 2 });
    expect(
      (await errorAfter({ type: 'load-corpus', file: new File([TEXT.slice(0, 5000)], 'other.txt') }))?.message,
    ).toBe('Busy analysing the reference: load the corpus once it has finished.');
    await analysing;
    expect(h.events.slice(before).flatMap((e) => (e.type === 'busy' ? [e.task] : []))).toEqual([
      'analysing the reference',
      null,
    ]);
    expect(h.events.filter((e) => e.type === 'reference-val')).toHaveLength(1);
    // A corpus too short for training at all is refused on loading; one too short for a validation window of the
    // context (120 tokens: 12 validate) at start, naming the numbers.
    expect(
      (await errorAfter({ type: 'load-corpus', file: new File(['To be, or not to be.'], 'tiny.txt') }))?.message,
    ).toMatch(/tiny\.txt has only \d+ tokens: too short/);
    await h.send({
      type: 'load-corpus',
      file: new File(['To be, or not to be, that is the question. '.repeat(10)], 'short.txt'),
    });
    expect((await errorAfter({ type: 'start', settings: small }))?.message).toMatch(
      /context 16 is too long for this corpus: its validation split \(last 10%\) has \d+ tokens, and one window of 16 tokens needs 17/,
    );
  }, 600_000);
});
