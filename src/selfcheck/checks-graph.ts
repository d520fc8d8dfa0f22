// The whole-graph check, per family: a 2-layer model (tiny vocabulary and width) built from the engine's ops runs
// forward and backward on the GPU; its loss and every parameter gradient must match the family's f64 reference of the
// same graph.

import type { ModelConfig, ModelFamily } from '../model/family';
import { gpt2 } from '../model/gpt2';
import { gpt2Config } from '../model/gpt2/config';
import { forwardDistillLoss, forwardLoss, hiddenStatesOf, matchedLayers } from '../model/model';
import { gpt2BlocksRef, gpt2LossAndGradsRef } from '../reference/gpt2';
import { matmulRef } from '../reference/linalg';
import { layernormRef } from '../reference/nn';
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
        const { host, dev } = randomParams(gpu, family, config, rng);
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

/** Random parameters for a family's config: norm gains near 1, everything else small; host copies and GPU leaves. */
function randomParams<C extends ModelConfig>(
  gpu: Parameters<Check['run']>[0]['gpu'],
  family: ModelFamily<C>,
  config: C,
  rng: Rng,
): { host: Map<string, Float64Array>; dev: Map<string, Tensor> } {
  const host = new Map<string, Float64Array>();
  const dev = new Map<string, Tensor>();
  for (const { name, shape, size: n, role } of family.params(config)) {
    const isGain = role === 'norm' && name.endsWith('.weight');
    const x = f32(isGain ? rng.normals(n, 0.1).map((v) => 1 + v) : rng.normals(n, 0.2));
    host.set(name, x);
    const t = fromArray(gpu, x, shape);
    t.requiresGrad = true;
    dev.set(name, t);
  }
  return { host, dev };
}

/**
 * The kd and kd-hidden losses through a whole 2-block GPT-2 student distilled from a 3-block teacher of the same
 * width: the teacher's states on the GPU (hiddenStatesOf) against the f64 forward, then the student's loss and every
 * gradient, for a seed of 0.5, against gpt2LossAndGradsRef with the same distillation.
 */
const distillGraphCheck: Check = {
  name: 'gpt2 2-layer graph distilled from a 3-layer teacher (kd, kd-hidden)',
  kernels: ['distill_head', 'hidden_cosine_forward', 'hidden_cosine_backward', 'crossentropy_mean'],
  async run({ gpu, expect }) {
    const rng = new Rng(22);
    const [B, T] = [2, 9];
    const cs = gpt2Config({ vocabSize: 37, positions: 16, width: 24, layers: 2, heads: 3 });
    const ct = { ...cs, layers: 3 };
    const ref = (c: typeof cs) => ({ V: c.vocabSize, P: c.positions, C: c.width, L: c.layers, H: c.heads });
    const layers = matchedLayers(cs.layers, ct.layers);
    for (const beta of [0, 1.5]) {
      await tidyAsync(async () => {
        const student = randomParams(gpu, gpt2, cs, rng);
        const teacher = randomParams(gpu, gpt2, ct, rng);
        const tokens = Int32Array.from({ length: B * T }, () => rng.int(cs.vocabSize));
        const targets = Int32Array.from({ length: B * T }, (_, i) => (i === 5 ? -100 : rng.int(cs.vocabSize)));
        const N = B * T;
        const C = cs.width;
        // The teacher in f64: every block's output, the final norm, the logits.
        const tb = gpt2BlocksRef(teacher.host, ref(ct), tokens, B, T);
        const outs = [...tb.saved.slice(1).map((s) => s.x), tb.x];
        const tp = (n: string) => teacher.host.get(n)!;
        const xf = layernormRef(tb.x, tp('ln_f.weight'), tp('ln_f.bias'), N, C).y;
        const dims = { M: N, N: cs.vocabSize, K: C, batch: 1, transA: false, transB: true };
        const teacherLogits = matmulRef(xf, tp('wte.weight'), null, dims);
        const states = hiddenStatesOf(gpt2, (n) => teacher.dev.get(n)!, ct, tokens, B, T, layers);
        expect('teacher final hidden states', await states.x.readF32(), xf, { atol: 1e-5, rtol: 1e-4 });
        for (const [i, l] of layers.entries())
          expect(`teacher block ${l} output`, await states.at[i]!.readF32(), outs[l]!, { atol: 1e-5, rtol: 1e-4 });
        const seed = fromArray(gpu, [0.5], [1]);
        const kd = { alpha: 0.5, tau: 2, hidden: beta };
        const { root, loss } = forwardDistillLoss(
          gpt2,
          (n) => student.dev.get(n)!,
          cs,
          tokens,
          targets,
          B,
          T,
          seed,
          { ...states, w: teacher.dev.get('wte.weight')! },
          kd,
        );
        await withPoisonedGradients(() => backward(root, seed));
        const want = gpt2LossAndGradsRef(student.host, ref(cs), tokens, targets, B, T, {
          teacherLogits,
          alpha: kd.alpha,
          tau: kd.tau,
          ...(beta ? { hidden: { beta, states: layers.map((l) => outs[l]!) } } : {}),
        });
        const tag = beta ? `kd-hidden β=${beta}` : 'kd';
        expect(`${tag}: loss`, await loss.readF32(), [want.loss], { atol: 1e-5, rtol: 1e-5 });
        for (const [name, t] of student.dev)
          expect(
            `${tag}: d ${name}`,
            await t.grad!.readF32(),
            want.grads.get(name)!.map((v) => 0.5 * v),
            { atol: 1e-5, rtol: 1e-3 },
          );
      });
    }
  },
};

export const graphChecks: Check[] = [
  distillGraphCheck,
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
