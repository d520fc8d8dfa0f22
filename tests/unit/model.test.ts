// The GPT-2 model's host-side pieces and sampling: parameter counts, init statistics, the banked flat layout,
// top-k/temperature sampling, and next-token logits against the full-logits path.

import { describe, expect, it } from 'vitest';
import { PRESETS, fromHfConfig, toHfConfig } from '../../src/model/config';
import { initParams, paramCount, paramLayout, paramSpecs } from '../../src/model/params';
import { Gpt2Model } from '../../src/model/gpt2';
import { generate, nextTokenLogits, sampleFromLogits } from '../../src/model/sample';
import { Rng } from '../../src/util/rng';
import { getGpu } from './gpu';

describe('GPT-2 parameters', () => {
  it('counts GPT-2 124M and 1.5B as Hugging Face does (tied head counted once)', () => {
    expect(paramCount(PRESETS.gpt2!)).toBe(124_439_808);
    expect(paramCount(PRESETS['gpt2-xl']!)).toBe(1_557_611_200);
    expect(paramCount(PRESETS.gpt2!, { excludeWpe: true })).toBe(124_439_808 - 1024 * 768);
  });

  it('initialises like GPT-2: N(0, 0.02), residual projections N(0, 0.02/√(2L)), LayerNorm 1/0, biases 0', () => {
    const cfg = { vocabSize: 500, nPositions: 64, nEmbd: 64, nLayer: 4, nHead: 2 };
    const p = initParams(cfg, 1);
    const std = (x: Float32Array) => Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);
    expect(std(p.get('wte.weight')!)).toBeCloseTo(0.02, 3);
    expect(std(p.get('h.0.mlp.c_fc.weight')!)).toBeCloseTo(0.02, 3);
    expect(std(p.get('h.3.attn.c_proj.weight')!)).toBeCloseTo(0.02 / Math.sqrt(8), 3);
    expect(std(p.get('h.3.mlp.c_proj.weight')!)).toBeCloseTo(0.02 / Math.sqrt(8), 3);
    expect(p.get('h.1.ln_2.weight')!.every((v) => v === 1)).toBe(true);
    expect(p.get('ln_f.bias')!.every((v) => v === 0)).toBe(true);
    expect(p.get('h.2.attn.c_attn.bias')!.every((v) => v === 0)).toBe(true);
    expect(initParams(cfg, 1).get('wpe.weight')).toEqual(p.get('wpe.weight'));
  });

  it('packs parameters into banks within the binding limit, decayed tensors first, 64-aligned', () => {
    const specs = paramSpecs({ vocabSize: 100, nPositions: 16, nEmbd: 8, nLayer: 3, nHead: 2 });
    const layout = paramLayout(specs, 1024);
    expect(layout.bankSizes.length).toBeGreaterThan(1);
    expect(layout.bankSizes.every((n) => n <= 1024)).toBe(true);
    for (const s of layout.slots) {
      expect(s.offset % 64).toBe(0);
      const end = layout.decayEnds[s.bank]!;
      expect(s.decay ? s.offset + s.size <= end : s.offset >= end, s.name).toBe(true);
    }
    expect(new Set(layout.slots.map((s) => s.name)).size).toBe(specs.length);
    expect(() => paramLayout(specs, 512)).toThrow(/wte\.weight .* more than this adapter's largest binding .*maxStorageBufferBindingSize/);
  });

  it('round-trips config.json fields', () => {
    const c = PRESETS['gpt2-medium']!;
    expect(fromHfConfig(toHfConfig(c))).toMatchObject(c);
    expect(() => fromHfConfig({ n_embd: 'big' })).toThrow(/"n_embd" must be a positive integer/);
  });
});

describe('sampling', () => {
  const logits = Float32Array.from([1, 3, 2, -1, 2.5]);
  it('is greedy at temperature 0 and with top-k 1', () => {
    expect(sampleFromLogits(logits, { temperature: 0, topK: 0 }, new Rng(1))).toBe(1);
    expect(sampleFromLogits(logits, { temperature: 1, topK: 1 }, new Rng(1))).toBe(1);
  });
  it('draws only from the top k, in proportion to softmax(logits/temperature)', () => {
    const rng = new Rng(7);
    const counts = new Map<number, number>();
    for (let i = 0; i < 20000; i++) {
      const t = sampleFromLogits(logits, { temperature: 0.5, topK: 2 }, rng);
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual([1, 4]);
    const p1 = Math.exp(3 / 0.5) / (Math.exp(3 / 0.5) + Math.exp(2.5 / 0.5));
    expect(counts.get(1)! / 20000).toBeCloseTo(p1, 1);
  });
  it('rejects bad settings', () => {
    expect(() => sampleFromLogits(logits, { temperature: -1, topK: 0 }, new Rng(1))).toThrow(/temperature must be ≥ 0/);
    expect(() => sampleFromLogits(logits, { temperature: 1, topK: 1.5 }, new Rng(1))).toThrow(/top-k/);
  });

  it('takes next-token logits from the last position, equal to the full-logits path, and generates deterministically', async () => {
    const gpu = await getGpu();
    const cfg = { vocabSize: 97, nPositions: 16, nEmbd: 24, nLayer: 2, nHead: 2 };
    const init = initParams(cfg, 3);
    const model = await Gpt2Model.create(gpu, cfg, (n) => init.get(n)!);
    try {
      const prompt = [5, 17, 42, 8, 90];
      const next = await nextTokenLogits(model, prompt);
      const full = await model.logits(Int32Array.from(prompt), 1, prompt.length).readF32();
      const lastRow = full.subarray(4 * 97, 5 * 97);
      expect(Math.max(...next.map((v, i) => Math.abs(v - lastRow[i]!)))).toBeLessThan(1e-5);
      const a = await generate(model, prompt, 20, { temperature: 0.8, topK: 10 }, new Rng(11));
      const b = await generate(model, prompt, 20, { temperature: 0.8, topK: 10 }, new Rng(11));
      expect(a).toEqual(b);
      expect(a.length).toBe(20);
      expect(a.every((t) => t >= 0 && t < 97)).toBe(true);
    } finally {
      model.dispose();
    }
  });
});
