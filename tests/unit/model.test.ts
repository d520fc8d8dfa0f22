// The GPT-2 model's host-side pieces and sampling: parameter counts, init statistics, the banked flat layout,
// top-k/temperature sampling, next-token logits against the full-logits path, and the GPU memory a training step's
// forward and backward take, in f32 and with half-precision activations.

import { describe, expect, it } from 'vitest';
import { PRESETS, fromHfConfig, toHfConfig, gpt2Config, type Gpt2Sizes } from '../../src/model/gpt2/config';
import { paramCount, paramLayout, paramSpecs } from '../../src/model/params';
import { gpt2Init } from '../../src/model/gpt2/params';
import { Model } from '../../src/model/model';
import { generate, nextTokenLogits, sampleFromLogits } from '../../src/model/sample';
import { Rng } from '../../src/util/rng';
import { backward, tidy } from '../../src/tensor';
import { getGpu } from './gpu';

describe('GPT-2 parameters', () => {
  it('counts GPT-2 124M and 1.5B as Hugging Face does (tied head counted once)', () => {
    expect(paramCount(PRESETS.gpt2!)).toBe(124_439_808);
    expect(paramCount(PRESETS['gpt2-xl']!)).toBe(1_557_611_200);
    expect(paramCount(PRESETS.gpt2!, { excludePositions: true })).toBe(124_439_808 - 1024 * 768);
  });

  it('initialises like GPT-2: N(0, 0.02), residual projections N(0, 0.02/√(2L)), LayerNorm 1/0, biases 0', () => {
    const cfg = gpt2Config({ vocabSize: 500, positions: 64, width: 64, layers: 4, heads: 2 });
    const p = gpt2Init(cfg, 1);
    const std = (x: Float32Array) => Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);
    expect(std(p.get('wte.weight')!)).toBeCloseTo(0.02, 3);
    expect(std(p.get('h.0.mlp.c_fc.weight')!)).toBeCloseTo(0.02, 3);
    expect(std(p.get('h.3.attn.c_proj.weight')!)).toBeCloseTo(0.02 / Math.sqrt(8), 3);
    expect(std(p.get('h.3.mlp.c_proj.weight')!)).toBeCloseTo(0.02 / Math.sqrt(8), 3);
    expect(p.get('h.1.ln_2.weight')!.every((v) => v === 1)).toBe(true);
    expect(p.get('ln_f.bias')!.every((v) => v === 0)).toBe(true);
    expect(p.get('h.2.attn.c_attn.bias')!.every((v) => v === 0)).toBe(true);
    expect(gpt2Init(cfg, 1).get('wpe.weight')).toEqual(p.get('wpe.weight'));
  });

  it('packs parameters into banks within the binding limit, decayed tensors first, 128-aligned', () => {
    const specs = paramSpecs(gpt2Config({ vocabSize: 100, positions: 16, width: 8, layers: 3, heads: 2 }));
    const layout = paramLayout(specs, 1024);
    expect(layout.bankSizes.length).toBeGreaterThan(1);
    expect(layout.bankSizes.every((n) => n <= 1024)).toBe(true);
    for (const s of layout.slots) {
      expect(s.offset % 128).toBe(0);
      const end = layout.decayEnds[s.bank]!;
      expect(s.decay ? s.offset + s.size <= end : s.offset >= end, s.name).toBe(true);
    }
    expect(new Set(layout.slots.map((s) => s.name)).size).toBe(specs.length);
    expect(() => paramLayout(specs, 512)).toThrow(
      /wte\.weight .* more than this adapter's largest binding .*maxStorageBufferBindingSize/,
    );
  });

  it('round-trips config.json fields', () => {
    const c = PRESETS['gpt2-medium']!;
    expect(gpt2Config(fromHfConfig(toHfConfig(c)) as Gpt2Sizes)).toEqual(c);
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
    const cfg = gpt2Config({ vocabSize: 97, positions: 16, width: 24, layers: 2, heads: 2 });
    const init = gpt2Init(cfg, 3);
    const model = await Model.create(gpu, cfg, (n) => init.get(n)!);
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

describe('activation memory', () => {
  it("holds one block's temporaries at a time, and f16 activations take less again", async () => {
    const gpu = await getGpu();
    const cfg = gpt2Config({ vocabSize: 97, positions: 64, width: 64, layers: 4, heads: 2 });
    const init = gpt2Init(cfg, 3);
    const model = await Model.create(gpu, cfg, (n) => init.get(n)!);
    try {
      model.flatGradients();
      const [B, T, C] = [4, 64, cfg.width];
      const tokens = Int32Array.from({ length: B * T }, (_, i) => (i * 7) % 97);
      const targets = Int32Array.from({ length: B * T }, (_, i) => (i * 5 + 1) % 97);
      /** Bytes the pool held at its peak over one forward + backward, above what was alive before, and the loss. */
      const step = async (half: boolean) => {
        await gpu.sync();
        gpu.trim();
        gpu.pool.resetPeak();
        const base = gpu.pool.stats().bytes;
        const read = tidy(() => {
          const loss = model.loss(tokens, targets, B, T, undefined, half);
          backward(loss);
          return loss.readF32();
        });
        const loss = (await read)[0]!;
        return { peak: gpu.pool.stats().peakBytes - base, loss };
      };
      const f32 = await step(false);
      const half = await step(true);
      // What backward reads, per block, in f32 floats per token: ln_1's input and output, qkv (3C), the attention
      // output, ln_2's input and output, the MLP's pre-activation and GELU output (4C each): 16·C. f16 storage halves
      // ln_1's and ln_2's outputs and the GELU's: 3·C fewer. Everything else (gradients, the head, one block's
      // temporaries) is common to both.
      const saved = (floatsPerC: number) => B * T * cfg.layers * floatsPerC * C * 4;
      console.log(
        `peak above parameters and gradients: f32 ${(f32.peak / 1024).toFixed(0)} KiB, f16 activations ${(half.peak / 1024).toFixed(0)} KiB (saved activations ${(saved(16) / 1024).toFixed(0)} → ${(saved(13) / 1024).toFixed(0)} KiB); loss ${f32.loss} vs ${half.loss}`,
      );
      expect(f32.peak).toBeGreaterThan(saved(16));
      // Without per-block scopes every temporary (another ~10·C per block) would be alive at the end of the forward.
      expect(f32.peak).toBeLessThan(saved(16) * 1.4);
      expect(f32.peak - half.peak).toBeGreaterThanOrEqual(saved(3) * 0.9);
      expect(Math.abs(half.loss - f32.loss) / f32.loss).toBeLessThan(1e-3);
      expect(half.loss).not.toBe(f32.loss); // the rounding happened
    } finally {
      model.dispose();
    }
  });
});
