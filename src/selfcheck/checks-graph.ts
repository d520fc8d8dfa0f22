// The whole-graph check: a 2-layer GPT-2 (tiny vocabulary and width) built from the engine's ops runs forward and
// backward on the GPU; its loss and every parameter gradient must match the f64 reference of the same graph.

import { Rng } from '../util/rng';
import { backward, fromArray, tidyAsync, type Tensor } from '../tensor';
import { gpt2Loss } from '../model/forward';
import { withPoisonedGradients } from '../tensor/tape';
import { paramSpecs } from '../model/params';
import { gpt2LossAndGradsRef } from '../reference/gpt2';
import { f32 } from './compare';
import type { Check } from './harness';

const gpt2GraphCheck: Check = {
  name: 'gpt2 2-layer graph',
  kernels: [
    'embedding_*',
    'layernorm_*',
    'matmul',
    'matmul+residual',
    'matmul+gelu',
    'colsum',
    'attention_*',
    'axpby',
    'gelu_backward',
    'crossentropy_*',
  ],
  async run({ gpu, expect }) {
    const rng = new Rng(21);
    const cfg = { V: 37, P: 16, C: 24, L: 2, H: 3 };
    const [B, T] = [2, 9];
    await tidyAsync(async () => {
      const host = new Map<string, Float64Array>();
      const dev = new Map<string, Tensor>();
      for (const { name, shape, size: n } of paramSpecs({
        vocabSize: cfg.V,
        nPositions: cfg.P,
        nEmbd: cfg.C,
        nLayer: cfg.L,
        nHead: cfg.H,
      })) {
        const isLnWeight = /ln_\d\.weight|ln_f\.weight/.test(name);
        const x = f32(isLnWeight ? rng.normals(n, 0.1).map((v) => 1 + v) : rng.normals(n, 0.2));
        host.set(name, x);
        const t = fromArray(gpu, x, shape);
        t.requiresGrad = true;
        dev.set(name, t);
      }
      const tokens = Int32Array.from({ length: B * T }, () => rng.int(cfg.V));
      const targets = Int32Array.from({ length: B * T }, (_, i) => (i === 5 ? -100 : rng.int(cfg.V)));
      // Two micro-batches: every rule must add into gradients that already hold the first batch's.
      const tokens2 = Int32Array.from({ length: B * T }, () => rng.int(cfg.V));
      const targets2 = Int32Array.from({ length: B * T }, () => rng.int(cfg.V));
      const shape = { nLayer: cfg.L, nHead: cfg.H };
      // Fresh intermediate gradients start as NaN: a rule that leaves an element unwritten poisons the result.
      const lossOf = (tok: Int32Array, tgt: Int32Array): Tensor => {
        const l = gpt2Loss((n) => dev.get(n)!, shape, tok, tgt, B, T);
        backward(l);
        return l;
      };
      const [loss, loss2] = await withPoisonedGradients(() => [lossOf(tokens, targets), lossOf(tokens2, targets2)]);
      const ref = gpt2LossAndGradsRef(host, cfg, tokens, targets, B, T);
      const ref2 = gpt2LossAndGradsRef(host, cfg, tokens2, targets2, B, T);
      expect('loss, batch 1', await loss.readF32(), [ref.loss], { atol: 1e-5, rtol: 1e-5 });
      expect('loss, batch 2', await loss2.readF32(), [ref2.loss], { atol: 1e-5, rtol: 1e-5 });
      for (const [name, t] of dev) {
        const want = ref.grads.get(name)!.map((v, i) => v + ref2.grads.get(name)![i]!);
        expect(`d ${name} (sum of 2 batches)`, await t.grad!.readF32(), want, { atol: 1e-5, rtol: 1e-3 });
      }
    });
  },
};

export const graphChecks: Check[] = [gpt2GraphCheck];
