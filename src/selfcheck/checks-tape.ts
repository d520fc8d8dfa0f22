// How backward fills intermediate gradients. An intermediate's first gradient is written over fresh storage or moved
// in (GradSlot), not added to a zero-filled buffer; a parameter's is always added to. Every rule's write path must set
// every element and give exactly what its add path gives, so each case computes the gradients of its inputs twice:
// with the inputs as leaves (rules add into .grad) and behind a reshape (rules fill the reshape's fresh gradient,
// poisoned with NaN first, which the reshape then adds into .grad). The add path is checked against the f64
// references by the op checks; here the two must agree to the bit (±0 aside).

import { Rng } from '../util/rng';
import { backward, fromArray, tidyAsync, type Tensor } from '../tensor';
import * as ops from '../tensor';
import { withPoisonedGradients } from '../tensor/tape';
import { EXACT_COUNT, f32 } from './compare';
import type { Check, CheckContext } from './harness';
import { param } from './support';

/** Elements that differ in value (NaN differs from everything; −0 equals +0). */
const unequal = (a: ArrayLike<number>, b: ArrayLike<number>): number =>
  Array.from(a).filter((v, i) => !(v === b[i])).length;

interface Input {
  name: string;
  shape: number[];
}

/**
 * d(inputs) of `build` for the seed gradient, once with leaf inputs and once through reshapes, compared exactly.
 * `build` gets the (leaf or reshaped) inputs and the seed (which the head may take up front).
 */
async function freshCase(
  ctx: CheckContext,
  rng: Rng,
  label: string,
  inputs: Input[],
  build: (xs: Tensor[], seed: Tensor) => Tensor,
): Promise<void> {
  const { gpu, expect } = ctx;
  const hosts = inputs.map((i) => f32(rng.normals(i.shape.reduce((a, b) => a * b, 1))));
  const run = async (reshaped: boolean): Promise<Float32Array[]> =>
    tidyAsync(async () => {
      const leaves = inputs.map((inp, i) => param(gpu, hosts[i]!, inp.shape));
      const xs = reshaped ? leaves.map((x) => ops.reshape(x, x.shape)) : leaves;
      // A scalar loss gets the seed (made first, so a head can take it up front). Any other output is reshaped first: the
      // seed is never moved, the reshape's copy of it may be, as a first gradient within the graph is.
      const seed = fromArray(gpu, [1.5], [1]);
      const out = build(xs, seed);
      const y = out.size === 1 ? out : ops.reshape(out, out.shape);
      const g = y.size === 1 ? seed : fromArray(gpu, f32(new Rng(y.size).normals(y.size)), y.shape); // same in both runs
      backward(y, g);
      return Promise.all(
        leaves.map((x, i) => {
          if (!x.grad) throw new Error(`${label}: ${inputs[i]!.name} got no gradient`);
          return x.grad.readF32();
        }),
      );
    });
  const direct = await run(false);
  const fresh = await run(true);
  inputs.forEach(
    (inp, i) =>
      void expect(
        `${label}: d${inp.name}, elements where written fresh ≠ added to zeros`,
        [unequal(fresh[i]!, direct[i]!)],
        [0],
        EXACT_COUNT,
      ),
  );
}

const freshGradientCheck: Check = {
  name: 'fresh gradients',
  kernels: [
    'matmul',
    'colsum',
    'gelu_backward',
    'layernorm_backward',
    'attention_backward_dq',
    'attention_backward_dkv',
    'crossentropy_backward',
    'transpose',
    'axpby',
    'broadcast_accumulate',
  ],
  async run(ctx) {
    const rng = new Rng(31);
    await withPoisonedGradients(async () => {
      for (const [transA, transB] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ]) {
        const [M, N, K] = [7, 9, 5];
        await freshCase(
          ctx,
          rng,
          `matmul tA=${+transA!} tB=${+transB!}`,
          [
            { name: 'A', shape: transA ? [K, M] : [M, K] },
            { name: 'B', shape: transB ? [N, K] : [K, N] },
            { name: 'bias', shape: [N] },
          ],
          ([a, b, bias]) => ops.matmul(a!, b!, { transA, transB, bias }),
        );
      }
      await freshCase(
        ctx,
        rng,
        'batched matmul',
        [
          { name: 'A', shape: [3, 4, 6] },
          { name: 'B', shape: [3, 6, 5] },
        ],
        ([a, b]) => ops.matmul(a!, b!, { alpha: 0.5 }),
      );
      // dB = Aᵀ·G over K = 2048 rows: split into parts, whose sum is written over C (not cleared first).
      await freshCase(
        ctx,
        rng,
        'split-K matmul',
        [
          { name: 'A', shape: [2048, 4] },
          { name: 'B', shape: [4, 4] },
        ],
        ([a, b]) => ops.matmul(a!, b!),
      );
      // The residual's gradient is the output's, moved in; the GELU epilogue's backward is GELU's rule.
      await freshCase(
        ctx,
        rng,
        'matmul + residual',
        [
          { name: 'A', shape: [6, 5] },
          { name: 'W', shape: [5, 8] },
          { name: 'R', shape: [6, 8] },
        ],
        ([a, w, r]) => ops.matmul(a!, w!, { residual: r }),
      );
      await freshCase(
        ctx,
        rng,
        'matmulGelu',
        [
          { name: 'A', shape: [6, 5] },
          { name: 'W', shape: [5, 8] },
        ],
        ([a, w]) => ops.matmulGelu(a!, w!),
      );
      await freshCase(ctx, rng, 'gelu', [{ name: 'x', shape: [5, 7] }], ([x]) => ops.gelu(x!));
      await freshCase(
        ctx,
        rng,
        'layernorm',
        [
          { name: 'x', shape: [6, 10] },
          { name: 'w', shape: [10] },
          { name: 'b', shape: [10] },
        ],
        ([x, w, b]) => ops.layernorm(x!, w!, b!),
      );
      await freshCase(ctx, rng, 'attention', [{ name: 'qkv', shape: [2, 9, 24] }], ([qkv]) => ops.attention(qkv!, 2));
      const targets = Int32Array.from([3, -100, 0, 6, 2]);
      await freshCase(ctx, rng, 'cross-entropy', [{ name: 'logits', shape: [5, 7] }], ([z]) =>
        ops.crossEntropy(z!, targets),
      );
      const headTargets = Int32Array.from({ length: 70 }, (_, i) => (i % 9 === 4 ? -100 : (i * 5) % 37));
      for (const early of [false, true]) {
        await freshCase(
          ctx,
          rng,
          `head${early ? ' (gradients in forward, moved)' : ''}`,
          [
            { name: 'x', shape: [70, 8] },
            { name: 'w', shape: [37, 8] },
          ],
          ([x, w], seed) =>
            ops.headCrossEntropy(x!, w!, headTargets, { chunkRows: 64, seed: early ? seed : undefined }),
        );
      }
      // x = w (a head tied to its own input): one slot that dx writes chunk by chunk and dw adds into whole.
      const tiedTargets = Int32Array.from({ length: 150 }, (_, i) => (i === 70 ? -100 : (i * 7) % 150));
      await freshCase(ctx, rng, 'head with x = w (3 chunks)', [{ name: 'x', shape: [150, 8] }], ([x]) =>
        ops.headCrossEntropy(x!, x!, tiedTargets, { chunkRows: 64 }),
      );
      await freshCase(ctx, rng, 'transpose', [{ name: 'x', shape: [7, 5] }], ([x]) => ops.transpose(x!));
      await freshCase(ctx, rng, 'scale', [{ name: 'x', shape: [11] }], ([x]) => ops.scale(x!, -0.75));
      await freshCase(ctx, rng, 'sum', [{ name: 'x', shape: [13] }], ([x]) => ops.sum(x!));
      // add moves the gradient into one input and copies it into the other; x + x moves nothing and its slot starts
      // zero-filled (one slot, filled twice).
      await freshCase(
        ctx,
        rng,
        'add',
        [
          { name: 'a', shape: [4, 3] },
          { name: 'b', shape: [4, 3] },
        ],
        ([a, b]) => ops.add(a!, b!),
      );
      await freshCase(ctx, rng, 'x + x', [{ name: 'x', shape: [4, 3] }], ([x]) => ops.add(x!, x!));
      await freshCase(
        ctx,
        rng,
        'toHalf then matmul',
        [
          { name: 'x', shape: [4, 6] },
          { name: 'W', shape: [6, 3] },
        ],
        ([x, w]) => ops.matmul(ops.toHalf(x!), w!),
      );
    });
  },
};

export const tapeChecks: Check[] = [freshGradientCheck];
