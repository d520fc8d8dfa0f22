// The Llama family against PyTorch on ../shared/fixtures/llama-8L (transformers' LlamaForCausalLM: 4 query heads, 2
// key/value heads, SwiGLU, RMSNorm, rope, untied head, a SentencePiece-style tokenizer.json): the debug batch's loss,
// logits samples and every parameter's gradient (samples and L2 norm), with f32 and with half-precision activations;
// validation losses from expected.json for the whole model and its first 4 and 6 layers.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileSource } from '../../src/io/node-source';
import { openCheckpoint } from '../../src/model/checkpoint';
import { Model } from '../../src/model/model';
import { evalJson } from './cli-in-process';
import { type Debug, expectDebugState } from './debug-state';
import { getGpu } from './gpu';

const DIR = join(__dirname, '../../../shared/fixtures/llama-8L');
const TEXT = join(__dirname, '../../../shared/data/tinyshakespeare.txt');

async function open() {
  const src = await fileSource(join(DIR, 'model.safetensors'));
  const ckpt = await openCheckpoint(src, {
    configJson: readFileSync(join(DIR, 'config.json'), 'utf8'),
    tokenizer: {
      json: readFileSync(join(DIR, 'tokenizer.json'), 'utf8'),
      config: readFileSync(join(DIR, 'tokenizer_config.json'), 'utf8'),
    },
  });
  return { ckpt, src };
}

/** As for GPT-2 (fixtures.test.ts): loss relative, logits absolute, gradients L2-relative and sample-relative. */
const F32_TOL = { loss: 1e-3, logit: 1e-2, grad: 2e-2 };
/** Also for f16-mixed (f16 weight copies and output gradients besides; measured: loss 2.4e-5 rel, gradients 3.4e-4). */
const HALF_TOL = { loss: 2.5e-4, logit: 1e-2, grad: 1e-2 };

describe.each([
  ['fp32', false, false],
  ['f16 activations', true, false],
  ['f16-mixed', true, true],
] as const)('PyTorch debug state of llama-8L (%s)', (what, half, mixed) => {
  const tol = half ? HALF_TOL : F32_TOL;
  it('matches loss, logits samples and every gradient', async () => {
    const dbg = JSON.parse(readFileSync(join(DIR, 'debug.json'), 'utf8')) as Debug;
    const { ckpt, src } = await open();
    const model = await Model.create(await getGpu(), ckpt.config, (n) => ckpt.read(n));
    try {
      await expectDebugState(model, dbg, tol, half, `llama-8L (${what})`, mixed);
    } finally {
      model.dispose();
      await src.close();
    }
  });
});

describe('llama-8L validation loss (expected.json) through `inheritune eval`', () => {
  it('the whole model and its first 4 and 6 layers, untrained, match PyTorch to 1e-3', async () => {
    const exp = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as Record<string, number>;
    for (const key of ['layers_4', 'layers_6', 'full']) {
      const layers = key === 'full' ? [] : ['--layers', key.split('_')[1]!];
      const argv = ['--model', DIR, '--data', TEXT, '--ctx', String(exp.ctx), '--windows', String(exp.windows)];
      const json = await evalJson([...argv, ...layers]);
      console.log(`llama-8L ${key}: val loss ${json.val_loss} vs PyTorch ${exp[key]} (${json.tokens.total} tokens)`);
      expect(json.layers).toBe(key === 'full' ? 8 : Number(key.split('_')[1]));
      expect(Math.abs(json.val_loss - exp[key]!)).toBeLessThan(1e-3);
    }
  }, 1_800_000);
});
