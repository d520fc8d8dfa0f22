// The TensorFlow.js WebGPU backend as a peer on the same adapter: the same matmul shapes, and the same GPT-2 training
// update written with its ops, autograd and Adam (no weight decay: TF.js has no AdamW; that only saves it work).
// Attention is written the TF.js way (scores materialised, masked softmax): that is what a TF.js user would run.

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type { Gpt2Config } from '../src/model/gpt2/config';
import { flopsPerToken } from '../src/train/mfu';
import { Rng } from '../src/util/rng';

// Host-made random values (TF.js's own random ops need seedrandom, which does not survive bundling).
const rng = new Rng(7);
function uniform(shape: number[], scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = (rng.next() * 2 - 1) * scale;
  return tf.tensor(d, shape);
}
function normal(shape: number[], std: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = rng.normal() * std;
  return tf.tensor(d, shape);
}
function tokens(shape: number[], vocab: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Int32Array.from({ length: n }, () => rng.int(vocab)),
    shape,
    'int32',
  );
}

export interface PeerMatmul {
  label: string;
  ms: number;
  reps: number;
  tflops: number;
}

export interface PeerStep {
  config: string;
  batch: number;
  ctx: number;
  steps: number;
  msPerStep: number;
  tokensPerSec: number;
  tflops: number;
  finalLoss: number;
}

/** Starts TF.js on its WebGPU backend (in Node `gpu` is Dawn's GPU object, exposed as navigator.gpu for TF.js). */
export async function startTfjs(gpu?: GPU): Promise<string> {
  const g = globalThis as unknown as { navigator?: { gpu?: GPU } };
  if (gpu && !g.navigator?.gpu)
    Object.defineProperty(globalThis, 'navigator', {
      value: { ...(g.navigator ?? {}), gpu, userAgent: 'node' },
      configurable: true,
    });
  // The backend registers itself on import only where navigator.gpu exists, so it is imported after that is set.
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('TensorFlow.js could not start its WebGPU backend');
  await tf.ready();
  return `@tensorflow/tfjs-core ${tf.version_core}, backend ${tf.getBackend()}`;
}

async function settle(t: tf.Tensor): Promise<void> {
  const one = tf.tidy(() => tf.slice(tf.reshape(t, [-1]), 0, 1));
  await one.data();
  one.dispose();
}

export async function tfjsMatmul(
  label: string,
  M: number,
  N: number,
  K: number,
  transA: boolean,
  transB: boolean,
  targetMs: number,
): Promise<PeerMatmul> {
  const a = uniform(transA ? [K, M] : [M, K]);
  const b = uniform(transB ? [N, K] : [K, N]);
  try {
    const run = () => tf.matMul(a, b, transA, transB);
    let c = run();
    await settle(c);
    c.dispose();
    let t0 = performance.now();
    c = run();
    await settle(c);
    c.dispose();
    const once = performance.now() - t0;
    const reps = Math.max(2, Math.min(50, Math.ceil(targetMs / Math.max(once, 1e-3))));
    t0 = performance.now();
    const outs: tf.Tensor[] = [];
    for (let r = 0; r < reps; r++) {
      outs.push(run());
      if (outs.length > 2) outs.shift()!.dispose();
    }
    await settle(outs[outs.length - 1]!);
    const ms = (performance.now() - t0) / reps;
    for (const o of outs) o.dispose();
    return { label, ms, reps, tflops: (2 * M * N * K) / (ms / 1000) / 1e12 };
  } finally {
    a.dispose();
    b.dispose();
  }
}

/** GPT-2 (pre-LN, tanh GELU, tied head) in TF.js ops; returns the mean next-token loss. */
function gpt2Loss(
  c: Gpt2Config,
  v: Map<string, tf.Variable>,
  ids: tf.Tensor2D,
  targets: tf.Tensor1D,
  mask: tf.Tensor,
  B: number,
  T: number,
): tf.Scalar {
  const C = c.width;
  const H = c.heads;
  const D = C / H;
  const P = (n: string) => v.get(n)!;
  const { add, sub, mul, matMul, reshape, transpose } = tf;
  const ln = (x: tf.Tensor, pre: string) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return add(mul(mul(sub(x, mean), tf.rsqrt(add(variance, 1e-5))), P(`${pre}.weight`)), P(`${pre}.bias`));
  };
  const gelu = (x: tf.Tensor) =>
    mul(mul(x, 0.5), add(tf.tanh(mul(add(x, mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1));
  const heads = (x: tf.Tensor) => transpose(reshape(x, [B, T, H, D]), [0, 2, 1, 3]);
  const linear = (x: tf.Tensor, pre: string) =>
    add(matMul(x as tf.Tensor2D, P(`${pre}.weight`) as tf.Tensor2D), P(`${pre}.bias`));
  let x: tf.Tensor = add(tf.gather(P('wte'), reshape(ids, [-1])), tf.tile(tf.slice(P('wpe'), [0, 0], [T, C]), [B, 1]));
  for (let l = 0; l < c.layers; l++) {
    const pre = `h.${l}`;
    const [q, k, vv] = tf.split(linear(ln(x, `${pre}.ln_1`), `${pre}.attn.c_attn`), 3, 1);
    const att = tf.softmax(add(mul(matMul(heads(q!), heads(k!), false, true), 1 / Math.sqrt(D)), mask));
    const y = reshape(transpose(matMul(att, heads(vv!)), [0, 2, 1, 3]), [B * T, C]);
    x = add(x, linear(y, `${pre}.attn.c_proj`));
    x = add(x, linear(gelu(linear(ln(x, `${pre}.ln_2`), `${pre}.mlp.c_fc`)), `${pre}.mlp.c_proj`));
  }
  const logits = matMul(ln(x, 'ln_f') as tf.Tensor2D, P('wte') as tf.Tensor2D, false, true); // [B·T, V]
  const rows = B * T;
  const picked = tf.gather(
    reshape(logits, [-1]),
    add(targets, mul(tf.range(0, rows, 1, 'int32'), tf.scalar(c.vocabSize, 'int32'))),
  );
  return tf.mean(sub(tf.logSumExp(logits, 1), picked)) as tf.Scalar;
}

export async function tfjsStep(
  name: string,
  c: Gpt2Config,
  B: number,
  T: number,
  steps: number,
  warmup: number,
): Promise<PeerStep> {
  const C = c.width;
  const shapes: [string, number[], 'normal' | 'one' | 'zero'][] = [
    ['wte', [c.vocabSize, C], 'normal'],
    ['wpe', [c.positions, C], 'normal'],
    ['ln_f.weight', [C], 'one'],
    ['ln_f.bias', [C], 'zero'],
  ];
  for (let l = 0; l < c.layers; l++) {
    const pre = `h.${l}`;
    shapes.push(
      [`${pre}.ln_1.weight`, [C], 'one'],
      [`${pre}.ln_1.bias`, [C], 'zero'],
      [`${pre}.ln_2.weight`, [C], 'one'],
      [`${pre}.ln_2.bias`, [C], 'zero'],
      [`${pre}.attn.c_attn.weight`, [C, 3 * C], 'normal'],
      [`${pre}.attn.c_attn.bias`, [3 * C], 'zero'],
      [`${pre}.attn.c_proj.weight`, [C, C], 'normal'],
      [`${pre}.attn.c_proj.bias`, [C], 'zero'],
      [`${pre}.mlp.c_fc.weight`, [C, 4 * C], 'normal'],
      [`${pre}.mlp.c_fc.bias`, [4 * C], 'zero'],
      [`${pre}.mlp.c_proj.weight`, [4 * C, C], 'normal'],
      [`${pre}.mlp.c_proj.bias`, [C], 'zero'],
    );
  }
  const vars = new Map<string, tf.Variable>();
  for (const [n, s, init] of shapes) {
    const t = init === 'normal' ? normal(s, 0.02) : init === 'one' ? tf.ones(s) : tf.zeros(s);
    vars.set(n, tf.variable(t, true, n));
    t.dispose();
  }
  const mask = tf.tidy(() => tf.mul(tf.sub(tf.linalg.bandPart(tf.ones([T, T]), -1, 0), 1), 1e9));
  const ids = tokens([B, T], c.vocabSize) as tf.Tensor2D;
  const targets = tokens([B * T], c.vocabSize) as tf.Tensor1D;
  const opt = tf.train.adam(3e-4, 0.9, 0.95, 1e-8);
  const step = () => opt.minimize(() => gpt2Loss(c, vars, ids, targets, mask, B, T), true)!;
  try {
    for (let i = 0; i < warmup; i++) {
      const l = step();
      await settle(l);
      l.dispose();
    }
    const t0 = performance.now();
    let last: tf.Scalar | null = null;
    for (let i = 0; i < steps; i++) {
      last?.dispose();
      last = step();
    }
    const finalLoss = (await last!.data())[0]!;
    last!.dispose();
    const msPerStep = (performance.now() - t0) / steps;
    const tokensPerSec = (B * T) / (msPerStep / 1000);
    return {
      config: name,
      batch: B,
      ctx: T,
      steps,
      msPerStep,
      tokensPerSec,
      tflops: (tokensPerSec * flopsPerToken(c, T)) / 1e12,
      finalLoss,
    };
  } finally {
    for (const v of vars.values()) v.dispose();
    for (const t of [mask, ids, targets]) t.dispose();
    opt.dispose();
  }
}
