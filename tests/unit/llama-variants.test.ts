// The Llama family's variants on the GPU against the f64 reference (src/reference/llama.ts): Llama with a tied head,
// one key/value head and Llama 3's rope scaling; Qwen2 with q/k/v biases; Qwen3 with per-head q/k RMSNorm and a head
// size that is not hidden/heads; Mistral with a sliding window. Loss to 1e-5 relative, and sampled gradient entries
// of every parameter against central differences of the reference's loss.

import { describe, expect, it } from 'vitest';
import type { ParamSpec } from '../../src/model/family';
import { type LlamaConfig, llamaFromHf } from '../../src/model/llama';
import { llamaInverseFrequencies } from '../../src/model/llama/config';
import { llamaParams } from '../../src/model/llama/params';
import { Model } from '../../src/model/model';
import { llamaLossRef, type LlamaRefConfig } from '../../src/reference/llama';
import { backward } from '../../src/tensor';
import { ropeInverseFrequencies } from '../../src/tensor/ops/rope';
import { Rng } from '../../src/util/rng';
import { getGpu } from './gpu';

const base = { vocab_size: 40, hidden_size: 16, num_hidden_layers: 2, max_position_embeddings: 64, rms_norm_eps: 1e-5 };
const VARIANTS: [string, Record<string, unknown>][] = [
  [
    'llama: tied head, one key/value head, llama3 rope scaling',
    {
      ...base,
      model_type: 'llama',
      num_attention_heads: 2,
      num_key_value_heads: 1,
      intermediate_size: 24,
      tie_word_embeddings: true,
      rope_theta: 500000,
      rope_scaling: {
        rope_type: 'llama3',
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 8,
      },
    },
  ],
  [
    'qwen2: q/k/v biases, 4 query and 2 key/value heads',
    {
      ...base,
      model_type: 'qwen2',
      num_attention_heads: 4,
      num_key_value_heads: 2,
      intermediate_size: 20,
      rope_theta: 1000000,
    },
  ],
  [
    'qwen3: per-head q/k norm, head_dim 12 with hidden 16 and 2 heads, tied',
    {
      ...base,
      model_type: 'qwen3',
      num_attention_heads: 2,
      num_key_value_heads: 1,
      head_dim: 12,
      intermediate_size: 20,
      tie_word_embeddings: true,
    },
  ],
  [
    'mistral: sliding window wider than the context',
    {
      ...base,
      model_type: 'mistral',
      num_attention_heads: 2,
      num_key_value_heads: 2,
      intermediate_size: 24,
      sliding_window: 32,
    },
  ],
];

function refConfig(c: LlamaConfig): LlamaRefConfig {
  return {
    V: c.vocabSize,
    C: c.width,
    L: c.layers,
    H: c.heads,
    KV: c.kvHeads,
    D: c.headDim,
    I: c.intermediate,
    eps: c.rmsEps,
    invFreq: llamaInverseFrequencies(c, ropeInverseFrequencies(c.headDim, c.ropeTheta)),
    tied: c.tied,
    qkvBias: c.qkvBias,
    oBias: c.oBias,
    qkNorm: c.qkNorm,
  };
}

/** Parameters far from init (norm gains around 1, biases nonzero, weights of scale 0.3) so every term matters. */
function randomParams(specs: ParamSpec[], rng: Rng): Map<string, Float32Array> {
  return new Map(
    specs.map((p) => [
      p.name,
      Float32Array.from(rng.normals(p.size, p.role === 'norm' ? 0.3 : p.role === 'bias' ? 0.2 : 0.3), (v) =>
        p.role === 'norm' ? 1 + v : v,
      ),
    ]),
  );
}

describe('Llama-family variants vs the f64 reference', () => {
  it.each(VARIANTS)('%s', async (_name, json) => {
    const config = llamaFromHf(json);
    const specs = llamaParams(config);
    const rng = new Rng(7);
    const params = randomParams(specs, rng);
    const B = 2;
    const T = 7;
    const tokens = Int32Array.from({ length: B * T }, () => rng.int(config.vocabSize));
    const targets = Int32Array.from({ length: B * T }, (_, i) => (i % 5 === 3 ? -1 : rng.int(config.vocabSize)));
    const ref = refConfig(config);
    const f64 = new Map([...params].map(([k, v]) => [k, Float64Array.from(v)]));
    const want = llamaLossRef(f64, ref, tokens, targets, B, T);

    const model = await Model.create(await getGpu(), config, (n) => params.get(n)!);
    try {
      model.flatGradients();
      const loss = model.loss(tokens, targets, B, T);
      backward(loss);
      const got = (await loss.readF32())[0]!;
      loss.dispose();
      expect(Math.abs(got - want) / want, `loss ${got} vs ${want}`).toBeLessThan(1e-5);
      // Three entries of every parameter's gradient against central differences of the reference.
      let worst = 0;
      for (const p of specs) {
        const g = await model.params.get(p.name)!.grad!.readF32();
        const x = f64.get(p.name)!;
        for (let s = 0; s < 3; s++) {
          const i = rng.int(p.size);
          const h = 1e-4;
          const at = (d: number) => {
            const keep = x[i]!;
            x[i] = keep + d;
            const l = llamaLossRef(f64, ref, tokens, targets, B, T);
            x[i] = keep;
            return l;
          };
          const numeric = (at(h) - at(-h)) / (2 * h);
          const err = Math.abs(g[i]! - numeric) / (1e-4 + Math.abs(numeric));
          worst = Math.max(worst, err);
          expect(err, `${p.name}[${i}]: ${g[i]} vs numeric ${numeric}`).toBeLessThan(1e-2);
        }
      }
      console.log(`${_name}: loss ${got} vs ${want}; worst gradient sample rel err ${worst.toExponential(2)}`);
    } finally {
      model.dispose();
    }
  });
});
