// Comparing a model with a fixture's PyTorch debug state (debug.json: one batch's loss, logits samples and every
// parameter's gradient facts), shared by the GPT-2 and Llama fixture tests.

import { expect } from 'vitest';
import type { Model } from '../../src/model/model';
import { backward } from '../../src/tensor';

export interface Debug {
  x: number[][];
  y: number[][];
  loss: number;
  logits_idx: number[];
  logits_val: number[];
  grads: Record<string, { shape: number[]; l2: number; sum: number; idx: number[]; val: number[] }>;
}

/** Tolerances: loss (relative), logits (absolute), gradients (L2 relative; samples relative to |ref| + rms). */
export interface DebugTolerance {
  loss: number;
  logit: number;
  grad: number;
}

/**
 * Runs the debug batch through `model` (logits, then loss and backward, with f16 activations if `half`) and checks
 * everything debug.json records; logs what was found under `tag`.
 */
/**
 * `half`: f16 activations; `mixed`: also the blocks' weight matrices as f16 copies and the backward products' output
 * gradients as halves (f16-mixed training's step, without loss scaling).
 */
export async function expectDebugState(
  model: Model,
  dbg: Debug,
  tol: DebugTolerance,
  half: boolean,
  tag: string,
  mixed = false,
) {
  const B = dbg.x.length;
  const T = dbg.x[0]!.length;
  const x = Int32Array.from(dbg.x.flat());
  const y = Int32Array.from(dbg.y.flat());
  const logits = await model.logits(x, B, T).readF32();
  let worstLogit = 0;
  dbg.logits_idx.forEach((i, k) => {
    worstLogit = Math.max(worstLogit, Math.abs(logits[i]! - dbg.logits_val[k]!));
  });
  if (mixed) model.enableHalfWeights();
  const loss = model.loss(x, y, B, T, undefined, half || mixed, mixed);
  backward(loss);
  const got = (await loss.readF32())[0]!;
  loss.dispose();
  console.log(
    `${tag}: loss ${got} vs PyTorch ${dbg.loss} (rel ${(Math.abs(got - dbg.loss) / dbg.loss).toExponential(2)}); logits max|Δ| ${worstLogit.toExponential(2)} over ${dbg.logits_idx.length} samples`,
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
    // Samples: |Δ| ≤ tol·(|ref| + rms), rms = L2/√n, so entries near zero are judged on the tensor's scale.
    const rms = ref.l2 / Math.sqrt(g.length);
    const sampleErr = Math.max(...ref.idx.map((i, k) => Math.abs(g[i]! - ref.val[k]!) / (Math.abs(ref.val[k]!) + rms)));
    worstNorm = Math.max(worstNorm, normErr);
    worstSample = Math.max(worstSample, sampleErr);
    expect(normErr, `${name} L2 ${l2} vs ${ref.l2}`).toBeLessThan(tol.grad);
    expect(sampleErr, `${name} samples`).toBeLessThan(tol.grad);
  }
  console.log(
    `${tag}: ${names.length} gradients, worst L2 rel err ${worstNorm.toExponential(2)}, worst sample err ${worstSample.toExponential(2)} (of ${tol.grad})`,
  );
}
