// A plain f64 GPT-2 (forward to the loss and full backward) composed from the op references, keyed by Hugging Face
// parameter names: the graph-level reference for the GPU engine.

import { addRef, geluBackwardRef, geluRef, matmulBackwardRef, matmulRef, type F64 } from './linalg';
import {
  attentionBackwardRef,
  attentionRef,
  crossEntropyRef,
  distillRef,
  embeddingBackwardRef,
  embeddingRef,
  layernormBackwardRef,
  layernormRef,
  hiddenCosineRef,
} from './nn';

export interface Gpt2RefConfig {
  V: number;
  P: number;
  C: number;
  L: number;
  H: number;
}

/** What the backward needs from each block's forward (and the analysis: the per-(b,h) attention probabilities). */
export type BlockSaved = { x: F64; h: F64; qkv: F64; a: F64; probs: F64[]; x2: F64; h2: F64; f: F64; fg: F64 };

export function refParams(params: Map<string, F64>): (name: string) => F64 {
  return (n) => {
    const v = params.get(n);
    if (!v) throw new Error(`missing parameter ${n}`);
    return v;
  };
}

/** Embedding and every block, forward: the residual stream after the last block (before ln_f) and each block's saved values. */
export function gpt2BlocksRef(
  params: Map<string, F64>,
  cfg: Gpt2RefConfig,
  tokens: Int32Array,
  B: number,
  T: number,
): { x: F64; saved: BlockSaved[] } {
  const { C, L, H } = cfg;
  const D = C / H;
  const N = B * T;
  const p = refParams(params);
  const lin = (x: F64, w: string, K: number, Nout: number) =>
    matmulRef(x, p(`${w}.weight`), p(`${w}.bias`), { M: N, N: Nout, K, batch: 1, transA: false, transB: false });
  const saved: BlockSaved[] = [];
  let x = embeddingRef(tokens, B, T, p('wte.weight'), p('wpe.weight'), C);
  for (let l = 0; l < L; l++) {
    const w = (n: string) => `h.${l}.${n}`;
    const h = layernormRef(x, p(w('ln_1.weight')), p(w('ln_1.bias')), N, C).y;
    const qkv = lin(h, w('attn.c_attn'), C, 3 * C);
    const att = attentionRef(qkv, B, T, H, D);
    const x2 = addRef(x, lin(att.out, w('attn.c_proj'), C, C));
    const h2 = layernormRef(x2, p(w('ln_2.weight')), p(w('ln_2.bias')), N, C).y;
    const f = lin(h2, w('mlp.c_fc'), C, 4 * C);
    const fg = geluRef(f);
    saved.push({ x, h, qkv, a: att.out, probs: att.probs, x2, h2, f, fg });
    x = addRef(x2, lin(fg, w('mlp.c_proj'), 4 * C, C));
  }
  return { x, saved };
}

/**
 * Distillation in the reference (the kd baselines): the loss is distillRef's against `teacherLogits` [N, V] instead of
 * cross-entropy, and with `hidden` each block l's output also pays β/L · hiddenCosineRef against `hidden.states[l]`.
 */
export interface DistillRefSpec {
  teacherLogits: F64;
  alpha: number;
  tau: number;
  hidden?: { beta: number; states: F64[] };
}

/** Loss and the gradient of every parameter (by name) for one batch (distilled with `kd`). */
export function gpt2LossAndGradsRef(
  params: Map<string, F64>,
  cfg: Gpt2RefConfig,
  tokens: Int32Array,
  targets: Int32Array,
  B: number,
  T: number,
  kd?: DistillRefSpec,
): { loss: number; grads: Map<string, F64> } {
  const { V, P, C, L, H } = cfg;
  const D = C / H;
  const N = B * T;
  const p = refParams(params);
  const linBack = (x: F64, w: string, g: F64, K: number, Nout: number) =>
    matmulBackwardRef(x, p(w), g, { M: N, N: Nout, K, batch: 1, transA: false, transB: false });

  const { x, saved } = gpt2BlocksRef(params, cfg, tokens, B, T);
  const xf = layernormRef(x, p('ln_f.weight'), p('ln_f.bias'), N, C).y;
  const logits = matmulRef(xf, p('wte.weight'), null, { M: N, N: V, K: C, batch: 1, transA: false, transB: true });
  const head0 = kd
    ? distillRef(logits, kd.teacherLogits, targets, N, V, kd.alpha, kd.tau)
    : crossEntropyRef(logits, targets, N, V);
  const { dlogits } = head0;
  let loss = head0.loss;
  // kd-hidden: block l's output, its cosine term's loss and gradient.
  const blockOut = (l: number) => (l === L - 1 ? x : saved[l + 1]!.x);
  const cosine = kd?.hidden
    ? Array.from({ length: L }, (_, l) =>
        hiddenCosineRef(blockOut(l), kd.hidden!.states[l]!, targets, N, C, V, kd.hidden!.beta / L),
      )
    : null;
  for (const t of cosine ?? []) loss += t.loss;

  // Backward.
  const grads = new Map<string, F64>();
  const acc = (name: string, g: F64) => {
    const cur = grads.get(name);
    if (cur) for (let i = 0; i < g.length; i++) cur[i] += g[i]!;
    else grads.set(name, Float64Array.from(g));
  };
  const head = matmulBackwardRef(xf, p('wte.weight'), dlogits, {
    M: N,
    N: V,
    K: C,
    batch: 1,
    transA: false,
    transB: true,
  });
  acc('wte.weight', head.dB);
  const lnf = layernormBackwardRef(x, p('ln_f.weight'), head.dA, N, C);
  acc('ln_f.weight', lnf.dw);
  acc('ln_f.bias', lnf.db);
  // A linear layer's and a LayerNorm's backward: accumulate their parameters' gradients, return the input's.
  const linearBack = (prefix: string, x: F64, g: F64, K: number, Nout: number): F64 => {
    const r = linBack(x, `${prefix}.weight`, g, K, Nout);
    acc(`${prefix}.weight`, r.dB);
    acc(`${prefix}.bias`, r.dBias);
    return r.dA;
  };
  const normBack = (prefix: string, x: F64, g: F64): F64 => {
    const r = layernormBackwardRef(x, p(`${prefix}.weight`), g, N, C);
    acc(`${prefix}.weight`, r.dw);
    acc(`${prefix}.bias`, r.db);
    return r.dx;
  };
  let dx = lnf.dx;
  for (let l = L - 1; l >= 0; l--) {
    const s = saved[l]!;
    const h = `h.${l}.`;
    if (cosine) dx = addRef(dx, cosine[l]!.ds);
    // x = x2 + mlp(x2)
    const dfg = linearBack(`${h}mlp.c_proj`, s.fg, dx, 4 * C, C);
    const dh2 = linearBack(`${h}mlp.c_fc`, s.h2, geluBackwardRef(s.f, dfg), C, 4 * C);
    const dx2 = addRef(dx, normBack(`${h}ln_2`, s.x2, dh2));
    // x2 = x + attn(x)
    const da = linearBack(`${h}attn.c_proj`, s.a, dx2, C, C);
    const dh = linearBack(`${h}attn.c_attn`, s.h, attentionBackwardRef(s.qkv, da, B, T, H, D), C, 3 * C);
    dx = addRef(dx2, normBack(`${h}ln_1`, s.x, dh));
  }
  const emb = embeddingBackwardRef(tokens, B, T, dx, V, P, C);
  acc('wte.weight', emb.dTable);
  acc('wpe.weight', emb.dPositions);
  return { loss, grads };
}
