// The whole-graph check, per family: a 2-layer model (tiny vocabulary and width) built from the engine's ops runs
// forward and backward on the GPU; its loss and every parameter gradient must match the family's f64 reference of the
// same graph.

import type { ModelConfig, ModelFamily } from '../model/family';
import { gpt2 } from '../model/gpt2';
import { gpt2Config } from '../model/gpt2/config';
import { forwardLoss } from '../model/model';
import { gpt2LossAndGradsRef } from '../reference/gpt2';
import { backward, fromArray, type Tensor, tidyAsync } from '../tensor';
import { withPoisonedGradients } from '../tensor/tape';
import { Rng } from '../util/rng';
import { f32 } from './compare';
import type { Check } from './harness';

/** A family's f64 reference: the loss and every parameter's gradient, by canonical name. */
export type GraphReference<C extends ModelConfig> = (
  params: Map<string, Float64Array>,
  config: C,
  tokens: Int32Array,
  targets: Int32Array,
  B: number,
  T: number,
) => { loss: number; grads: Map<string, Float64Array> };

function graphCheck<C extends ModelConfig>(
  family: ModelFamily<C>,
  config: C,
  reference: GraphReference<C>,
  kernels: string[],
): Check {
  return {
    name: `${family.id} ${config.layers}-layer graph`,
    kernels,
    async run({ gpu, expect }) {
      const rng = new Rng(21);
      const [B, T] = [2, 9];
      const V = config.vocabSize;
      await tidyAsync(async () => {
        const host = new Map<string, Float64Array>();
        const dev = new Map<string, Tensor>();
        for (const { name, shape, size: n, role } of family.params(config)) {
          // Norm gains near 1, everything else small and random.
          const isGain = role === 'norm' && name.endsWith('.weight');
          const x = f32(isGain ? rng.normals(n, 0.1).map((v) => 1 + v) : rng.normals(n, 0.2));
          host.set(name, x);
          const t = fromArray(gpu, x, shape);
          t.requiresGrad = true;
          dev.set(name, t);
        }
        const tokens = Int32Array.from({ length: B * T }, () => rng.int(V));
        const targets = Int32Array.from({ length: B * T }, (_, i) => (i === 5 ? -100 : rng.int(V)));
        // Two micro-batches: every rule must add into gradients that already hold the first batch's.
        const tokens2 = Int32Array.from({ length: B * T }, () => rng.int(V));
        const targets2 = Int32Array.from({ length: B * T }, () => rng.int(V));
        // Fresh intermediate gradients start as NaN: a rule that leaves an element unwritten poisons the result.
        const lossOf = (tok: Int32Array, tgt: Int32Array): Tensor => {
          const l = forwardLoss(family, (n) => dev.get(n)!, config, tok, tgt, B, T);
          backward(l);
          return l;
        };
        const [loss, loss2] = await withPoisonedGradients(() => [lossOf(tokens, targets), lossOf(tokens2, targets2)]);
        const ref = reference(host, config, tokens, targets, B, T);
        const ref2 = reference(host, config, tokens2, targets2, B, T);
        expect('loss, batch 1', await loss.readF32(), [ref.loss], { atol: 1e-5, rtol: 1e-5 });
        expect('loss, batch 2', await loss2.readF32(), [ref2.loss], { atol: 1e-5, rtol: 1e-5 });
        for (const [name, t] of dev) {
          const want = ref.grads.get(name)!.map((v, i) => v + ref2.grads.get(name)![i]!);
          expect(`d ${name} (sum of 2 batches)`, await t.grad!.readF32(), want, { atol: 1e-5, rtol: 1e-3 });
        }
      });
    },
  };
}

export const graphChecks: Check[] = [
  graphCheck(
    gpt2,
    gpt2Config({ vocabSize: 37, positions: 16, width: 24, layers: 2, heads: 3 }),
    (params, c, tokens, targets, B, T) =>
      gpt2LossAndGradsRef(
        params,
        { V: c.vocabSize, P: c.positions, C: c.width, L: c.layers, H: c.heads },
        tokens,
        targets,
        B,
        T,
      ),
    [
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
  ),
];
