// One settings schema for the page, the worker and the CLI (src/settings/): a table of bad settings, each refused with
// the same message by the run form's check (what the page shows beside the field), by the worker's engine (the error
// a Start gets) and by `inheritune run` (its one-line error, prefixed with the flag); and good settings passing.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../src/cli/args';
import { runCommand } from '../../src/cli/run';
import { Gpu } from '../../src/gpu/runtime';
import { acquireNodeDevice } from '../../src/gpu/node';
import { checkDemo, DEFAULT_DEMO } from '../../src/settings/demo';
import {
  checkRunSettings,
  defaultRunSettings,
  RUN_FIELDS,
  type RunSettings,
  type SettingsContext,
} from '../../src/settings/schema';
import { memoryEstimate } from '../../src/settings/memory';
import { memoryStore } from '../../src/train/memory-store';
import { runErrors } from '../../src/ui/validate';
import { Engine } from '../../src/worker/engine';
import type { AdapterInfo, CorpusInfo, ReferenceInfo, WorkerEvent } from '../../src/worker/protocol';

const FIX = join(__dirname, '../../../shared/fixtures');
const TEXT = readFileSync(join(__dirname, '../../../shared/data/tinyshakespeare.txt'), 'utf8').slice(0, 60_000);

/** A valid run on tiny-2L (2 blocks, 64 positions) and the corpus above. */
const GOOD: RunSettings = {
  ...defaultRunSettings(),
  n: 1,
  stepsPerRound: 4,
  warmup: 0,
  ctx: 16,
  batch: 2,
  evalWindows: 2,
  evalEvery: 0,
  checkpointEvery: 0,
};

/** Bad settings: the change, the field refused, and what its message must say. */
const BAD: [string, Partial<RunSettings>, keyof RunSettings, RegExp][] = [
  ['n = 0', { n: 0 }, 'n', /^n must be at least 1 \(n = 0 inherits no transformer block\): pick 1 to 1$/],
  ['n = k', { n: 2 }, 'n', /^n = 2 inherits the whole 2-block reference and leaves nothing to grow: pick 1 to 1/],
  ['n > k', { n: 3 }, 'n', /^n = 3 is more than the reference's 2 blocks: pick 1 to 1$/],
  ['no steps', { stepsPerRound: 0 }, 'stepsPerRound', /^steps per round must be a whole number ≥ 1, got 0$/],
  ['grow mode', { grow: 'sideways' as never }, 'grow', /^grow mode must be restart or continue, got "sideways"$/],
  ['optimizer', { optimizer: 'sgd' as never }, 'optimizer', /^optimizer must be AdamW or Muon, got "sgd"$/],
  ['schedule', { schedule: 'linear' as never }, 'schedule', /^schedule must be cosine or d2z, got "linear"$/],
  ['learning rate', { lr: -1 }, 'lr', /^learning rate must be a positive number, got -1$/],
  [
    'min lr above lr',
    { minLr: 0.5 },
    'minLr',
    /^minimum learning rate must not exceed the learning rate 0\.001, got 0\.5$/,
  ],
  ['Muon lr', { optimizer: 'muon', muonLr: 0 }, 'muonLr', /^Muon learning rate must be a positive number, got 0$/],
  [
    'warmup = a round',
    { warmup: 4 },
    'warmup',
    /^warmup must be a whole number from 0 to 3 \(shorter than a round\), got 4$/,
  ],
  ['batch 0', { batch: 0 }, 'batch', /^batch must be a whole number ≥ 1, got 0$/],
  [
    'batch over the binding limit',
    { batch: 40_000, ctx: 64 },
    'batch',
    /^batch 40000 × context 64 needs a 1\.22 GiB activation buffer .* by 226\.0 MiB: use batch ≤ 32768/,
  ],
  [
    'context over positions',
    { ctx: 65 },
    'ctx',
    /^context must be a whole number from 1 to 64 \(the reference's positions\), got 65$/,
  ],
  [
    'context 0',
    { ctx: 0 },
    'ctx',
    /^context must be a whole number from 1 to 64 \(the reference's positions\), got 0$/,
  ],
  ['accumulation', { accum: 5000 }, 'accum', /^accumulation must be a whole number from 1 to 4096, got 5000$/],
  ['eval every', { evalEvery: -1 }, 'evalEvery', /^eval every must be a whole number ≥ 0, got -1$/],
  [
    'windows',
    { evalWindows: 100_000 },
    'evalWindows',
    /^validation windows must be a whole number from 1 to \d+ \(the windows of 16 tokens that fit in the validation split\), got 100000$/,
  ],
  ['seed', { seed: -1 }, 'seed', /^seed must be a whole number from 0 to 2147483647, got -1$/],
  ['snapshots', { checkpointEvery: -1 }, 'checkpointEvery', /^snapshot every must be a whole number ≥ 0, got -1$/],
  ['peak', { peakTflops: -5 }, 'peakTflops', /^peak TFLOP\/s must be a positive number, got -5$/],
  ['precision', { precision: 'bf16' as never }, 'precision', /^precision must be fp32 or f16-mixed, got "bf16"$/],
  [
    'baseline kind',
    { compare: ['stack', 'distill'] as never },
    'compare',
    /^compare has no "distill": the choices are scratch, scratch-2x, stack, hybrid-stack, half-width, kd, kd-hidden$/,
  ],
  [
    'inheritance',
    { inherit: 'heads' as never },
    'inherit',
    /^inherit must be all, attn\+mlp, attn or mlp, got "heads"$/,
  ],
  ['kd α', { kdAlpha: 1.5 }, 'kdAlpha', /^kd α must be a number from 0 to 1, got 1.5$/],
  ['kd β', { kdBeta: -1 }, 'kdBeta', /^kd β must be a number ≥ 0, got -1$/],
];

/** The CLI flags of a settings object (booleans when set, nullables when given). */
function argv(s: RunSettings): string[] {
  const out: string[] = [];
  for (const [key, spec] of Object.entries(RUN_FIELDS) as [
    keyof RunSettings,
    (typeof RUN_FIELDS)[keyof RunSettings],
  ][]) {
    const v = s[key];
    if (v === null || v === false) continue;
    out.push(`--${spec.flag}`);
    if (v !== true) out.push(String(v));
  }
  return out;
}

describe('one settings schema for the page, the worker and the CLI', () => {
  let gpu: Gpu;
  let engine: Engine;
  const events: WorkerEvent[] = [];
  let reference: ReferenceInfo;
  let corpus: CorpusInfo;
  let adapter: AdapterInfo;
  let context: SettingsContext;
  const tmp = mkdtempSync(join(tmpdir(), 'settings-'));
  const corpusFile = join(tmp, 'corpus.txt');

  beforeAll(async () => {
    writeFileSync(corpusFile, TEXT);
    gpu = new Gpu(await acquireNodeDevice());
    engine = new Engine((e) => events.push(e), {
      acquire: () => acquireNodeDevice(),
      demoCorpus: async () => TEXT,
      runStore: async () => memoryStore(),
    });
    await engine.handle({ type: 'init' });
    await engine.handle({
      type: 'load-checkpoint',
      files: ['model.safetensors', 'config.json'].map((f) => new File([readFileSync(join(FIX, 'tiny-2L', f))], f)),
    });
    await engine.handle({ type: 'load-corpus', file: new File([TEXT], 'corpus.txt') });
    const find = <T extends WorkerEvent['type']>(t: T) =>
      events.find((e) => e.type === t) as Extract<WorkerEvent, { type: T }>;
    reference = find('reference').info;
    corpus = find('corpus').info;
    adapter = find('ready').adapter;
    context = {
      reference: {
        layers: reference.layers,
        positions: reference.positions,
        widestActivation: reference.widestActivation,
      },
      corpus: { train: corpus.train, val: corpus.val },
      limits: adapter,
    };
  }, 300_000);

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('passes good settings: the defaults, the small run, Muon, D2Z, f16 activations, a cosine floor', () => {
    for (const s of [
      defaultRunSettings(context),
      GOOD,
      { ...GOOD, optimizer: 'muon' as const, muonLr: 0.01 },
      { ...GOOD, schedule: 'd2z' as const, halfActivations: true, baseline: true, paperCode: true },
      { ...GOOD, minLr: 1e-4, peakTflops: 10, grow: 'continue' as const },
    ]) {
      expect(checkRunSettings(s, context)).toEqual([]);
      expect(runErrors(s, reference, corpus, adapter)).toEqual({});
    }
    // Before a reference or corpus is known, the rules that need them wait (the form checks what it can).
    expect(checkRunSettings({ ...GOOD, n: 7, ctx: 2000 })).toEqual([]);
    expect(checkDemo(DEFAULT_DEMO, adapter)).toEqual([]);
  });

  it.each(BAD)(
    'refuses %s alike in the page, the worker and the CLI',
    async (_name, change, field, words) => {
      const s = { ...GOOD, ...change };
      const issues = checkRunSettings(s, context);
      expect(issues[0]?.field).toBe(field);
      const message = issues[0]!.message;
      expect(message).toMatch(words);

      // The page: the message beside the field.
      expect(runErrors(s, reference, corpus, adapter)[field]).toBe(message);

      // The worker: the error a Start gets, with its code; nothing starts.
      const at = events.length;
      await engine.handle({ type: 'start', settings: s });
      const answer = events.slice(at).filter((e) => e.type === 'error' || e.type === 'stage');
      expect(answer).toEqual([{ type: 'error', scope: 'run', code: 'settings', message }]);

      // The CLI: a usage error naming the flag, before anything trains.
      const out = mkdtempSync(join(tmp, 'out-'));
      const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      let thrown: unknown = null;
      try {
        await runCommand(['--ref', join(FIX, 'tiny-2L'), '--data', corpusFile, '--out', out, ...argv(s)], gpu);
      } catch (e) {
        thrown = e;
      } finally {
        stderr.mockRestore();
      }
      expect(thrown).toBeInstanceOf(UsageError);
      expect((thrown as Error).message).toBe(`--${RUN_FIELDS[field].flag}: ${message}`);
    },
    120_000,
  );
});

describe('the memory estimate', () => {
  it('counts f16-mixed: an f16 copy of every parameter, f16 activations', () => {
    const facts = { blockParams: 1000, otherParams: 500, savedPerToken: 10, vocab: 256, layers: 4, width: 16 };
    const plan = { n: 2, batch: 4, ctx: 8, optimizer: 'adamw' as const, halfActivations: false };
    const fp32 = memoryEstimate(facts, { ...plan, precision: 'fp32' });
    const mixed = memoryEstimate(facts, { ...plan, precision: 'f16-mixed' });
    const half = memoryEstimate(facts, { ...plan, halfActivations: true });
    expect(fp32.paramCount).toBe(2500);
    expect(fp32.params).toBe(4 * 2500);
    expect(mixed.params).toBe(6 * 2500);
    expect(fp32.activations).toBe(4 * 8 * 2 * 10 * 4);
    expect(mixed.activations).toBe(half.activations);
    expect(mixed.activations).toBe((3 / 4) * fp32.activations);
    // The head: a chunk of f32 logits (32 rows × 256) and, in f16-mixed, their gradient as halves beside the padded
    // f16 copy of the head matrix (256 rows, already whole 64-row tiles, × 16).
    expect(fp32.head).toBe(2 * 32 * 256 * 4);
    expect(mixed.head).toBe(32 * 256 * (4 + 2) + 256 * 16 * 2);
    expect(mixed.total - fp32.total).toBe(2 * 2500 - fp32.activations / 4 + mixed.head - fp32.head);
    expect([mixed.grads, mixed.optimizer]).toEqual([fp32.grads, fp32.optimizer]);
    expect(fp32.teacher).toBe(0);
    // Backward's waiting column sums: their budget and their arena, 32 MiB each, whatever the plan.
    expect([fp32.sums, mixed.sums]).toEqual([64 * 2 ** 20, 64 * 2 ** 20]);
    expect(fp32.total).toBe(fp32.params + fp32.grads + fp32.optimizer + fp32.activations + fp32.head + fp32.sums);
  });

  it("counts a distillation teacher: the whole reference, its states per micro-batch and its logits' chunk", () => {
    const facts = { blockParams: 1000, otherParams: 500, savedPerToken: 10, vocab: 256, layers: 4, width: 16 };
    const plan = { n: 2, batch: 4, ctx: 8, optimizer: 'adamw' as const, halfActivations: false };
    const plain = memoryEstimate(facts, plan);
    const kd = memoryEstimate(facts, { ...plan, teacher: 'logits' });
    const hidden = memoryEstimate(facts, { ...plan, teacher: 'hidden' });
    const tokens = 4 * 8;
    expect(kd.teacher).toBe(4 * (500 + 4 * 1000) + 4 * tokens * 16 + tokens * 256 * 4);
    // kd-hidden also keeps the teacher's output of the block matched with each student block: at most k = 4 of them
    // (the kd students train at the grown size, up to k).
    expect(hidden.teacher - kd.teacher).toBe(4 * 4 * tokens * 16);
    expect(kd.total - plain.total).toBe(kd.teacher);
  });
});
