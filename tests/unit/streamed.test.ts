// References larger than the GPU: validation loss and the attention-rank analysis with the model streamed layer by
// layer give what the resident model gives, while only one stage's weights are on the GPU at a time (measured: the
// parameters resident at most, and the pool's growth, against the whole model's).

import { describe, expect, it } from 'vitest';
import { analyzeAttention } from '../../src/inheritune/analyze';
import { validationWindows } from '../../src/io/corpus';
import { gpt2Config } from '../../src/model/gpt2/config';
import { gpt2Init } from '../../src/model/gpt2/params';
import { llamaFromHf } from '../../src/model/llama';
import { llamaInit } from '../../src/model/llama/params';
import type { ModelConfig } from '../../src/model/family';
import { Model } from '../../src/model/model';
import { paramCount } from '../../src/model/params';
import { StreamedWeights } from '../../src/model/streamed';
import { streamedValidationLoss, validationLoss } from '../../src/train/evaluate';
import { Rng } from '../../src/util/rng';
import { getGpu } from './gpu';

const rng = new Rng(11);
const val = Uint32Array.from({ length: 3000 }, () => rng.int(256));

const cases: [string, ModelConfig, Map<string, Float32Array>][] = (() => {
  const g = gpt2Config({ vocabSize: 256, positions: 32, width: 32, layers: 6, heads: 2 });
  const l = llamaFromHf({
    model_type: 'qwen3',
    vocab_size: 256,
    hidden_size: 32,
    intermediate_size: 48,
    num_hidden_layers: 6,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 16,
    max_position_embeddings: 32,
  });
  return [
    ['GPT-2', g, gpt2Init(g, 3)],
    ['Qwen3', l, llamaInit({ ...l, initStd: 0.2 }, 3)],
  ];
})();

describe('a model streamed layer by layer', () => {
  it.each(cases)(
    '%s: the same validation loss and attention ranks, one stage resident at a time',
    async (_n, config, params) => {
      const gpu = await getGpu();
      const read = async (n: string) => params.get(n)!;
      const model = await Model.create(gpu, config, (n) => params.get(n)!);
      const whole = await validationLoss(model, val, 32, 20, { batch: 8 });
      const { inputs } = validationWindows(val, 32, 3);
      const ranks = await analyzeAttention(model, inputs, 3, 32);
      model.dispose();

      const before = gpu.pool.stats().bytes;
      const streamed = new StreamedWeights(gpu, config, read);
      const loss = await streamedValidationLoss(streamed, val, 32, 20, { batch: 8 });
      expect(Math.abs(loss - whole) / whole, `${loss} vs ${whole}`).toBeLessThan(1e-6);
      const ranks2 = await analyzeAttention(new StreamedWeights(gpu, config, read), inputs, 3, 32);
      expect(ranks2.layers).toEqual(ranks.layers);
      // At most one stage's weights were resident: here the head stage (embedding + final norm) or one block.
      const total = 4 * paramCount(config);
      expect(streamed.peakParamBytes).toBeLessThan(total / 2);
      console.log(
        `${_n}: streamed ${loss} vs resident ${whole}; weights resident at most ${streamed.peakParamBytes} of ${total} bytes; pool grew ${gpu.pool.stats().bytes - before} bytes`,
      );
    },
  );
});
