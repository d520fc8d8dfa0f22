// The paper's comparisons (issue 25): the baseline kinds' stages and order, the comparison table, the half-width
// narrowing against plain CPU index arithmetic (GPT-2 on ref-8L's shapes, Llama on llama-8L's with its rotary pairs),
// stacking, the inheritance ablation, the `compare` setting in the schema and the CLI; and one run through the public
// pipeline API on the software adapter that trains every kind and checks each model's starting weights exactly.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { settingsFromFlags } from '../../src/cli/settings';
import { parseFlags } from '../../src/cli/args';
import { RUN_FLAGS, TRAIN_FLAGS } from '../../src/cli/settings';
import { BASELINE_KINDS, baselineStages } from '../../src/inheritune/baseline-kinds';
import { halfWidthSource, stackedSource } from '../../src/inheritune/baselines';
import { inheritSource } from '../../src/inheritune/inherit';
import type { InherituneSettings } from '../../src/inheritune/pipeline';
import { comparisonRows, nextRound, type RoundResult, type RoundsState } from '../../src/inheritune/rounds';
import { splitTokens } from '../../src/io/corpus';
import { inheritedConfig } from '../../src/model/checkpoint';
import { gpt2Config } from '../../src/model/gpt2/config';
import { gpt2Init, gpt2Params } from '../../src/model/gpt2/params';
import type { LlamaConfig } from '../../src/model/llama/config';
import { llamaHalfWidth, llamaParams } from '../../src/model/llama/params';
import { matchedLayers, Model } from '../../src/model/model';
import { flopsPerToken } from '../../src/train/mfu';
import { Trainer } from '../../src/train/trainer';
import { sliceTensor } from '../../src/model/slice';
import { optimizerConfig } from '../../src/optim/optimizer';
import { checkRunSettings, defaultRunSettings, RUN_FIELDS } from '../../src/settings/schema';
import { getGpu } from './gpu';
import { wholeAndResumed } from './pipeline-runs';

const rand = (n: number, seed: number) => {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
};

describe('baseline kinds', () => {
  it('plans each kind in stages on the rounds’ budget', () => {
    expect(baselineStages('scratch', 6, 8, 10)).toEqual([{ layers: 6, steps: 10, init: 'scratch' }]);
    expect(baselineStages('scratch-2x', 6, 8, 10)).toEqual([{ layers: 6, steps: 20, init: 'scratch' }]);
    expect(baselineStages('stack', 5, 8, 11)).toEqual([
      { layers: 3, steps: 5, init: 'scratch' },
      { layers: 5, steps: 6, init: 'stack' },
    ]);
    // One block, or one update, has nothing to stack.
    expect(baselineStages('stack', 1, 8, 10)).toEqual([{ layers: 1, steps: 10, init: 'scratch' }]);
    expect(baselineStages('stack', 4, 8, 1)).toEqual([{ layers: 4, steps: 1, init: 'scratch' }]);
    expect(baselineStages('hybrid-stack', 6, 8, 10)).toEqual([{ layers: 6, steps: 10, init: 'hybrid-stack' }]);
    expect(baselineStages('half-width', 6, 8, 10)).toEqual([{ layers: 8, steps: 10, init: 'half-width' }]);
    expect(baselineStages('kd', 6, 8, 10)).toEqual([{ layers: 6, steps: 10, init: 'kd' }]);
    expect(baselineStages('kd-hidden', 6, 8, 10)).toEqual([{ layers: 6, steps: 10, init: 'kd-hidden' }]);
  });

  it("matches kd-hidden's blocks with the teacher's evenly, last with last", () => {
    expect(matchedLayers(6, 8)).toEqual([1, 2, 3, 5, 6, 7]);
    expect(matchedLayers(2, 3)).toEqual([1, 2]);
    expect(matchedLayers(4, 4)).toEqual([0, 1, 2, 3]);
    expect(matchedLayers(4, 12)).toEqual([2, 5, 8, 11]);
    // A student deeper than its teacher (possible with a small reference) repeats teacher blocks, in order.
    expect(matchedLayers(3, 2)).toEqual([0, 1, 1]);
  });

  const result = (o: Partial<RoundResult>): RoundResult => ({
    phase: 'inheritune',
    round: 0,
    n: 4,
    params: 100,
    steps: 3,
    valLossStart: 9,
    valLoss: 5,
    seconds: 1,
    ...o,
  });

  it('trains the kinds asked for in order, a stacked kind stage by stage, then stops; the table has a row per kind', () => {
    const state: RoundsState = {
      settings: { compare: ['scratch', 'stack', 'half-width'] } as InherituneSettings,
      reference: { layers: 4, params: 1000, valLoss: 4 },
      rounds: [],
    };
    const walk: string[] = [];
    let r = result({ n: 2, round: 0, valLoss: 6, tokens: 30, flops: 300, width: 8 });
    for (let i = 0; i < 10; i++) {
      state.rounds.push(r);
      const next = nextRound(state, r);
      if (next.kind === 'done') break;
      const round = r.round + 1;
      if (next.kind === 'grow') {
        walk.push(`grow ${next.to}`);
        r = result({ n: next.to, round, valLoss: 5, tokens: 30, flops: 600, width: 8 });
      } else {
        walk.push(`${next.baseline}/${next.stage}: ${next.plan.layers}×${next.plan.steps}`);
        const p = next.plan;
        r = result({ phase: 'baseline', kind: next.baseline, stage: next.stage, n: p.layers, round, steps: p.steps });
        r.valLoss = 4.5 + round / 10;
        r.tokens = 10 * p.steps;
        r.flops = 100 * p.steps;
      }
    }
    expect(walk).toEqual(['grow 4', 'scratch/0: 4×6', 'stack/0: 2×3', 'stack/1: 4×3', 'half-width/0: 4×6']);
    const rows = comparisonRows(state);
    expect(rows.map((x) => [x.kind, x.layers, x.steps, x.tokens, x.flops])).toEqual([
      ['inheritune', 4, 6, 60, 900],
      ['scratch', 4, 6, 60, 600],
      ['stack', 4, 6, 60, 600],
      ['half-width', 4, 6, 60, 600],
    ]);
    expect(rows[2]!.valLoss).toBeCloseTo(4.5 + 0.4, 12);
    expect(rows[2]!.gap).toBeCloseTo(0.9, 12);
    // A stacked kind halfway (its first stage only) has no row yet; a legacy `baseline: true` is the scratch kind.
    expect(comparisonRows({ ...state, rounds: state.rounds.slice(0, 4) }).map((x) => x.kind)).toEqual([
      'inheritune',
      'scratch',
    ]);
    const legacy = { ...state, settings: { baseline: true } as InherituneSettings, rounds: state.rounds.slice(0, 2) };
    expect(nextRound(legacy, state.rounds[1]!)).toMatchObject({ kind: 'baseline', baseline: 'scratch', stage: 0 });
    expect(nextRound(legacy, state.rounds[2]!)).toEqual({ kind: 'done' });
  });

  it('checks `compare` in the schema and reads it from the CLI (comma-separated; --baseline adds scratch)', () => {
    const base = defaultRunSettings();
    expect(checkRunSettings({ ...base, compare: ['stack', 'scratch'] })).toEqual([]);
    expect(checkRunSettings({ ...base, compare: ['stacks'] as never })[0]?.message).toBe(
      `compare has no "stacks": the choices are ${BASELINE_KINDS.join(', ')}`,
    );
    expect(checkRunSettings({ ...base, compare: ['stack', 'stack'] })[0]?.message).toBe('compare names "stack" twice');
    expect(checkRunSettings({ ...base, inherit: 'heads' as never })[0]?.message).toBe(
      'inherit must be all, attn+mlp, attn or mlp, got "heads"',
    );
    const flags = (argv: string[]) =>
      settingsFromFlags(
        parseFlags(['--data', 'x', ...argv], { ...TRAIN_FLAGS, ...RUN_FLAGS }, 'run'),
        RUN_FIELDS,
        base,
      );
    expect(flags(['--compare', 'half-width, stack']).compare).toEqual(['half-width', 'stack']);
    expect(flags(['--baseline']).compare).toEqual(['scratch']);
    expect(flags(['--baseline', '--compare', 'stack']).compare).toEqual(['scratch', 'stack']);
    expect(flags(['--compare', 'none']).compare).toEqual([]);
    expect(flags(['--inherit', 'attn', '--inherit-norms'])).toMatchObject({ inherit: 'attn', inheritNorms: true });
  });
});

describe('half-width, stacking and the ablation as parameter sources', () => {
  it('narrows a GPT-2 to half width exactly as plain index arithmetic does (ref-8L shapes)', async () => {
    const ref = gpt2Config({ vocabSize: 50, positions: 16, width: 128, layers: 2, heads: 4 });
    const refSpecs = gpt2Params(ref);
    const values = new Map(refSpecs.map((p, i) => [p.name, rand(p.size, i + 1)]));
    const { config, source } = halfWidthSource(ref, async (n) => values.get(n)!);
    expect([config.width, config.heads, config.headDim, config.layers]).toEqual([64, 4, 16, 2]);
    const C = 128;
    const c = 64;
    const D = 32;
    const d = 16;
    // Where a column of the half model's q/k/v comes from: part p, head h, dimension i < d.
    const qkvCol = (j: number) => Math.floor(j / c) * C + Math.floor((j % c) / d) * D + (j % d);
    const headCol = (j: number) => Math.floor(j / d) * D + (j % d);
    for (const spec of gpt2Params(config)) {
      const got = await source(spec.name, spec.shape);
      const src = values.get(spec.name)!;
      const srcShape = refSpecs.find((p) => p.name === spec.name)!.shape;
      const want = new Float32Array(spec.size);
      const [R, K] = spec.shape.length === 2 ? spec.shape : [1, spec.shape[0]!];
      const n = spec.name;
      const colOf = n.endsWith('c_attn.weight') || n.endsWith('c_attn.bias') ? qkvCol : (j: number) => j;
      const rowOf = n.endsWith('attn.c_proj.weight') ? headCol : (i: number) => i;
      for (let i = 0; i < R!; i++)
        for (let j = 0; j < K!; j++)
          want[i * K! + j] = spec.shape.length === 2 ? src[rowOf(i) * srcShape[1]! + colOf(j)]! : src[colOf(j)]!;
      expect(got, n).toEqual(want);
    }
  });

  it("narrows a Llama keeping each head's rotary pairs (llama-8L's config), and refuses a head it cannot halve", () => {
    const dir = new URL('../../../shared/fixtures/llama-8L/', import.meta.url);
    const hf = JSON.parse(readFileSync(new URL('config.json', dir), 'utf8'));
    const D = hf.head_dim ?? hf.hidden_size / hf.num_attention_heads;
    const ref: LlamaConfig = {
      family: 'llama',
      modelType: 'llama',
      vocabSize: 64,
      layers: 2,
      width: hf.hidden_size,
      heads: hf.num_attention_heads,
      headDim: D,
      positions: 32,
      kvHeads: hf.num_key_value_heads,
      intermediate: hf.intermediate_size,
      rmsEps: 1e-5,
      ropeTheta: 10000,
      ropeScaling: null,
      tied: false,
      qkvBias: true,
      oBias: false,
      hfMaxPositions: 32,
      qkNorm: true,
      initStd: 0.02,
      extra: {},
    };
    const half = llamaHalfWidth(ref);
    expect([half.config.width, half.config.headDim, half.config.intermediate, half.config.kvHeads]).toEqual([
      ref.width / 2,
      D / 2,
      ref.intermediate / 2,
      ref.kvHeads,
    ]);
    const refSpecs = new Map(llamaParams(ref).map((p) => [p.name, p]));
    for (const spec of llamaParams(half.config)) {
      const from = refSpecs.get(spec.name)!;
      const out = sliceTensor(rand(from.size, 3), from.shape, half.keep(from));
      expect(out.length, spec.name).toBe(spec.size);
    }
    // q_proj's rows: head h's dimension i of the half head is the reference's h·D + i for i < D/4 and
    // h·D + D/2 + (i − D/4) after, so the pair (i, i + D/4) of the half head is the pair (i, i + D/2) of the full one.
    const rows = half.keep(refSpecs.get('model.layers.0.self_attn.q_proj.weight')!)[0]!;
    for (let h = 0; h < ref.heads; h++)
      for (let i = 0; i < D / 4; i++) {
        expect(rows[h * (D / 2) + i]).toBe(h * D + i);
        expect(rows[h * (D / 2) + i + D / 4]).toBe(h * D + i + D / 2);
      }
    expect(() => llamaHalfWidth({ ...ref, headDim: 6 })).toThrow(
      'the half-width baseline halves each head and keeps its rotary pairs: head_dim 6 must be a multiple of 4',
    );
    expect(() =>
      halfWidthSource(
        gpt2Config({ vocabSize: 8, positions: 4, width: 12, layers: 1, heads: 4 }),
        async () => new Float32Array(),
      ),
    ).toThrow('the half-width baseline halves each head: head size 3 (n_embd 12 / n_head 4) is odd');
  });

  it('stacks m blocks to n (block j is block j mod m) and keeps the rest', async () => {
    const small = gpt2Config({ vocabSize: 20, positions: 8, width: 8, layers: 2, heads: 2 });
    const big = { ...small, layers: 5 };
    const init = gpt2Init(small, 9);
    const source = stackedSource((n) => init.get(n)!, small, big);
    for (const p of gpt2Params(big)) {
      const want = p.block === null ? p.name : p.name.replace(`h.${p.block}.`, `h.${p.block % 2}.`);
      expect(await source(p.name, p.shape), p.name).toBe(init.get(want));
    }
  });

  it('inherits only the sub-modules asked for, the rest as the family initialises them', async () => {
    const ref = gpt2Config({ vocabSize: 20, positions: 8, width: 8, layers: 4, heads: 2 });
    const refValues = gpt2Init(ref, 1);
    const read = async (n: string) => refValues.get(n)!;
    const config = inheritedConfig(ref, 2);
    const fresh = gpt2Init(config, 77);
    for (const [parts, norms] of [
      ['attn', false],
      ['mlp', true],
      ['attn+mlp', false],
    ] as const) {
      const { source } = inheritSource(ref, read, 2, { parts, norms, seed: 77 });
      for (const p of gpt2Params(config)) {
        const inherits =
          p.block === null || (p.role === 'norm' ? norms : parts === 'attn+mlp' || p.name.includes(`.${parts}.`));
        expect(await source(p.name, p.shape), `${parts} ${p.name}`).toEqual((inherits ? refValues : fresh).get(p.name));
      }
    }
  });
});

// ---- Through the pipeline on the software adapter ----

const text = readFileSync(new URL('../../../shared/data/tinyshakespeare.txt', import.meta.url), 'utf8').slice(
  0,
  12_000,
);
const data = splitTokens(Uint32Array.from(new TextEncoder().encode(text)));
const refConfig = gpt2Config({ vocabSize: 256, positions: 16, width: 16, layers: 4, heads: 2 });
let refParams = new Map<string, Float32Array>();
const ref = { config: refConfig, read: async (n: string) => refParams.get(n)!.slice() };

/** The reference: 40 AdamW updates from init, so two updates of 2 blocks do not already match it (the run grows). */
async function trainReference(): Promise<void> {
  const init = gpt2Init(refConfig, 42);
  const model = await Model.create(await getGpu(), refConfig, (n) => init.get(n)!);
  const t = new Trainer(model, data, {
    ...compareSettings().train,
    steps: 40,
    schedule: { kind: 'cosine', lr: 1e-2, warmup: 2 },
  });
  await t.run(() => undefined);
  refParams = await model.toHost();
  t.dispose();
  model.dispose();
}

function compareSettings(): InherituneSettings {
  return {
    n: 2,
    stepsPerRound: 2,
    grow: 'restart',
    paperCode: false,
    compare: [...BASELINE_KINDS],
    inherit: 'attn',
    inheritNorms: true,
    initSeed: 5,
    checkpointEvery: 8,
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

describe('the comparison run', () => {
  it('trains Inheritune (attention and norms inherited) and every baseline kind from exactly its construction, and resumes mid-stack exactly', {
    timeout: 600_000,
  }, async () => {
    const gpu = await getGpu();
    await trainReference();
    const s = compareSettings();
    // Each model's weights as it is made (the read is queued before any of its training), and as it is replaced (the
    // copy is queued before it is disposed): the uninterrupted run's only (the first of the two wholeAndResumed runs;
    // its close hands over null). Then the same run stopped inside the stack's first stage (update 4 + 4 + 8 + 1) and
    // resumed must give the same trace and model.
    const starts: Promise<Map<string, Float32Array>>[] = [];
    const ends: Promise<Map<string, Float32Array>>[] = [];
    let live: Model | null = null;
    let capturing = true;
    const onModel = (m: Model | null) => {
      if (!capturing) return;
      if (!m) capturing = false;
      if (live) ends.push(live.toHost());
      live = m;
      if (m) starts.push(m.toHost());
    };
    const { result, events } = await wholeAndResumed({ gpu, ref, data, peak: null, onModel }, s, 17);
    const r = result.report;
    expect(r.status).toBe('done');
    const rounds = events.flatMap((e) =>
      e.type === 'round-start' ? [`${e.kind ?? e.phase}/${e.stage ?? 0} ${e.n}×${e.steps}`] : [],
    );
    expect(rounds).toEqual([
      'inheritune/0 2×2',
      'inheritune/0 4×2',
      'scratch/0 4×4',
      'scratch-2x/0 4×8',
      'stack/0 2×2',
      'stack/1 4×2',
      'hybrid-stack/0 4×4',
      'half-width/0 4×4',
      'kd/0 4×4',
      'kd-hidden/0 4×4',
    ]);
    const [round0, , scratch, scratch2x, stack0, stack1, hybrid, halfWidth, kd, kdHidden] = await Promise.all(starts);
    const stack0End = (await Promise.all(ends))[4]!;
    const eq = (got: Map<string, Float32Array>, want: (name: string) => Float32Array | undefined, what: string) => {
      for (const [name, v] of got) expect(v, `${what}: ${name}`).toEqual(want(name));
    };
    // The ablation: attention and norms from the reference, the MLPs as GPT-2 initialises a 2-block model.
    const init2 = gpt2Init(inheritedConfig(refConfig, 2), s.initSeed);
    eq(round0!, (n) => (/\.mlp\./.test(n) ? init2 : refParams).get(n), 'round 0');
    const init4 = gpt2Init(refConfig, s.initSeed);
    eq(scratch!, (n) => init4.get(n), 'scratch');
    eq(scratch2x!, (n) => init4.get(n), 'scratch-2x');
    eq(kd!, (n) => init4.get(n), 'kd (the student)');
    eq(kdHidden!, (n) => init4.get(n), 'kd-hidden (the student)');
    eq(stack0!, (n) => init2.get(n), 'stack stage 1');
    eq(stack1!, (n) => stack0End.get(n.replace(/^h\.(\d+)\./, (_, b) => `h.${Number(b) % 2}.`)), 'stack stage 2');
    expect(stack0End.get('h.0.attn.c_attn.weight')).not.toEqual(init2.get('h.0.attn.c_attn.weight'));
    eq(hybrid!, (n) => refParams.get(n.replace(/^h\.(\d+)\./, (_, b) => `h.${Number(b) % 2}.`)), 'hybrid-stack');
    const half = halfWidthSource(refConfig, ref.read);
    expect(half.config.width).toBe(8);
    for (const [name, v] of halfWidth!) expect(v, `half-width: ${name}`).toEqual(await half.source(name, []));

    expect(r.comparison.map((x) => [x.kind, x.layers, x.width, x.steps, x.tokens])).toEqual([
      ['inheritune', 4, 16, 4, 128],
      ['scratch', 4, 16, 4, 128],
      ['scratch-2x', 4, 16, 8, 256],
      ['stack', 4, 16, 4, 128],
      ['hybrid-stack', 4, 16, 4, 128],
      ['half-width', 4, 8, 4, 128],
      ['kd', 4, 16, 4, 128],
      ['kd-hidden', 4, 16, 4, 128],
    ]);
    for (const row of r.comparison) {
      expect(Number.isFinite(row.valLoss), row.kind).toBe(true);
      expect(row.gap).toBeCloseTo(row.valLoss - r.reference.valLoss, 12);
    }
    // The stack's first stage trains 2 blocks: fewer FLOPs for the same tokens than scratch.
    expect(r.comparison[3]!.flops!).toBeLessThan(r.comparison[1]!.flops!);
    // kd trains the same model as scratch and also runs the teacher's forward (a third of its training FLOPs).
    expect(r.comparison[6]!.flops! - r.comparison[1]!.flops!).toBeCloseTo((flopsPerToken(refConfig, 16) / 3) * 128, 0);
    expect(r.comparison[7]!.flops).toBe(r.comparison[6]!.flops);
    // The same student, data and teacher: the cosine term changes what kd-hidden learns.
    expect(r.comparison[7]!.valLoss).not.toBe(r.comparison[6]!.valLoss);
    expect(r.baseline?.kind).toBe('scratch');
    expect(result.final?.config.layers).toBe(4);
  });
});

describe('distillation in the trainer', () => {
  it('with α = 1 trains exactly as plain cross-entropy, bit for bit, the teacher running beside it', {
    timeout: 300_000,
  }, async () => {
    const gpu = await getGpu();
    const teacher = await Model.create(gpu, refConfig, (n) => gpt2Init(refConfig, 8).get(n)!);
    const student = inheritedConfig(refConfig, 2);
    const init = gpt2Init(student, 4);
    const train = async (distill: boolean) => {
      const model = await Model.create(gpu, student, (n) => init.get(n)!);
      const t = new Trainer(model, data, { ...compareSettings().train, steps: 3 });
      if (distill) t.setDistillation({ teacher, alpha: 1, tau: 2 });
      const losses: number[] = [];
      await t.run((e) => {
        if (e.type === 'step') losses.push(e.loss);
      });
      const params = await model.toHost();
      const perToken = t.perToken;
      t.dispose();
      model.dispose();
      return { losses, params, perToken };
    };
    try {
      const [plain, distilled] = [await train(false), await train(true)];
      expect(distilled.losses).toEqual(plain.losses);
      for (const [name, v] of plain.params) expect(distilled.params.get(name), name).toEqual(v);
      expect(distilled.perToken - plain.perToken).toBeCloseTo(flopsPerToken(refConfig, 16) / 3, 6);
    } finally {
      teacher.dispose();
    }
  });

  it('kd-hidden against a teacher equal to the student adds nothing at first: its states line up block for block', {
    timeout: 300_000,
  }, async () => {
    const gpu = await getGpu();
    const student = inheritedConfig(refConfig, 2);
    const init = gpt2Init(student, 4);
    const teacher = await Model.create(gpu, student, (n) => init.get(n)!);
    const first = async (hidden?: number) => {
      const model = await Model.create(gpu, student, (n) => init.get(n)!);
      const t = new Trainer(model, data, { ...compareSettings().train, steps: 2 });
      t.setDistillation({ teacher, alpha: 0.5, tau: 2, ...(hidden !== undefined ? { hidden } : {}) });
      const losses: number[] = [];
      await t.run((e) => {
        if (e.type === 'step') losses.push(e.loss);
      });
      t.dispose();
      model.dispose();
      return losses;
    };
    try {
      const [kd, cosine] = [await first(), await first(3)];
      // Step 0: student = teacher, so every matched pair has cos = 1 (the term is 0 up to f32 rounding) and its
      // gradient is 0: kd-hidden's first loss is kd's. A misaligned pair (another block, the final norm's output)
      // would cost O(β) here.
      expect(Math.abs(cosine[0]! - kd[0]!)).toBeLessThan(1e-5);
    } finally {
      teacher.dispose();
    }
  });
});
