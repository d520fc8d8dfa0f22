// The Llama family against PyTorch on ../shared/fixtures/llama-8L (transformers' LlamaForCausalLM: 4 query heads, 2
// key/value heads, SwiGLU, RMSNorm, rope, untied head, a SentencePiece-style tokenizer.json): the debug batch's loss,
// logits samples and every parameter's gradient (samples and L2 norm), with f32 and with half-precision activations;
// validation losses from expected.json for the whole model and its first 4 and 6 layers.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { evalCommand } from '../../src/cli/eval';
import { fileSource } from '../../src/io/node-source';
import { openCheckpoint } from '../../src/model/checkpoint';
import { Model } from '../../src/model/model';
import { backward } from '../../src/tensor';
import { getGpu } from './gpu';

const DIR = join(__dirname, '../../../shared/fixtures/llama-8L');
const TEXT = join(__dirname, '../../../shared/data/tinyshakespeare.txt');

interface Debug {
  x: number[][];
  y: number[][];
  loss: number;
  logits_idx: number[];
  logits_val: number[];
  grads: Record<string, { shape: number[]; l2: number; sum: number; idx: number[]; val: number[] }>;
}

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
const HALF_TOL = { loss: 2.5e-4, logit: 1e-2, grad: 1e-2 };

describe.each([false, true])('PyTorch debug state of llama-8L (half-precision activations: %s)', (half) => {
  const tol = half ? HALF_TOL : F32_TOL;
  it('matches loss, logits samples and every gradient', async () => {
    const dbg = JSON.parse(readFileSync(join(DIR, 'debug.json'), 'utf8')) as Debug;
    const B = dbg.x.length;
    const T = dbg.x[0]!.length;
    const { ckpt, src } = await open();
    const model = await Model.create(await getGpu(), ckpt.config, (n) => ckpt.read(n));
    try {
      const x = Int32Array.from(dbg.x.flat());
      const y = Int32Array.from(dbg.y.flat());
      const logits = await model.logits(x, B, T).readF32();
      let worstLogit = 0;
      dbg.logits_idx.forEach((i, k) => {
        worstLogit = Math.max(worstLogit, Math.abs(logits[i]! - dbg.logits_val[k]!));
      });
      const loss = model.loss(x, y, B, T, undefined, half);
      backward(loss);
      const got = (await loss.readF32())[0]!;
      loss.dispose();
      console.log(
        `llama-8L${half ? ' (f16 activations)' : ''}: loss ${got} vs PyTorch ${dbg.loss} (rel ${(Math.abs(got - dbg.loss) / dbg.loss).toExponential(2)}); logits max|Δ| ${worstLogit.toExponential(2)} over ${dbg.logits_idx.length} samples`,
      );
      expect(Math.abs(got - dbg.loss) / dbg.loss).toBeLessThan(tol.loss);
      expect(worstLogit).toBeLessThan(tol.logit);
      const names = Object.keys(dbg.grads);
      expect(names.length).toBe(model.params.size);
      let worstNorm = 0;
      let worstSample = 0;
      for (const name of names) {
        const ref = dbg.grads[name]!;
        const p = model.params.get(name);
        expect(p, `parameter ${name}`).toBeDefined();
        const g = await p!.grad!.readF32();
        let ss = 0;
        for (const v of g) ss += v * v;
        const l2 = Math.sqrt(ss);
        const normErr = Math.abs(l2 - ref.l2) / ref.l2;
        const rms = ref.l2 / Math.sqrt(g.length);
        const sampleErr = Math.max(
          ...ref.idx.map((i, k) => Math.abs(g[i]! - ref.val[k]!) / (Math.abs(ref.val[k]!) + rms)),
        );
        worstNorm = Math.max(worstNorm, normErr);
        worstSample = Math.max(worstSample, sampleErr);
        expect(normErr, `${name} L2 ${l2} vs ${ref.l2}`).toBeLessThan(tol.grad);
        expect(sampleErr, `${name} samples`).toBeLessThan(tol.grad);
      }
      console.log(
        `llama-8L${half ? ' (f16 activations)' : ''}: ${names.length} gradients, worst L2 rel err ${worstNorm.toExponential(2)}, worst sample err ${worstSample.toExponential(2)} (of ${tol.grad})`,
      );
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
      const out: string[] = [];
      const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
        out.push(String(s));
        return true;
      });
      const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      try {
        const argv = [
          '--model',
          DIR,
          '--data',
          TEXT,
          '--ctx',
          String(exp.ctx),
          '--windows',
          String(exp.windows),
          '--json',
        ];
        expect(await evalCommand([...argv, ...layers])).toBe(0);
      } finally {
        stdout.mockRestore();
        stderr.mockRestore();
      }
      const json = JSON.parse(out.join('')) as { val_loss: number; layers: number; tokens: { total: number } };
      console.log(`llama-8L ${key}: val loss ${json.val_loss} vs PyTorch ${exp[key]} (${json.tokens.total} tokens)`);
      expect(json.layers).toBe(key === 'full' ? 8 : Number(key.split('_')[1]));
      expect(Math.abs(json.val_loss - exp[key]!)).toBeLessThan(1e-3);
    }
  }, 1_800_000);
});
