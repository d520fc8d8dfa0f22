// Rotary position embedding (Hugging Face's "rotate half" form, DESIGN.md "Llama-family forward") applied to q and k
// as they are packed with v into the attention kernels' qkv layout: one pass forward, its exact inverse rotation
// backward. The angles' cosines and sines are computed on the host, per (inverse frequencies, T).

import fwdSrc from '../../../shaders/rope_qkv_forward.wgsl?raw';
import bwdSrc from '../../../shaders/rope_qkv_backward.wgsl?raw';
import { kernel } from '../../gpu/kernel';
import type { Gpu } from '../../gpu/runtime';
import { isGradEnabled, tape } from '../tape';
import { empty, fromArray, type Tensor } from '../tensor';
import { assertF32, dispatchElements } from './launch';

const DIMS = [
  ['B', 'u32'],
  ['T', 'u32'],
  ['H', 'u32'],
  ['KV', 'u32'],
  ['D', 'u32'],
] as const;
export const ROPE_QKV_FORWARD = kernel({
  name: 'rope_qkv_forward',
  source: fwdSrc,
  storage: ['read', 'read', 'read', 'read', 'rw'],
  uniforms: DIMS,
});
export const ROPE_QKV_BACKWARD = kernel({
  name: 'rope_qkv_backward',
  source: bwdSrc,
  storage: ['read', 'read', 'rw', 'rw', 'rw'],
  uniforms: DIMS,
});

/**
 * The inverse frequencies θᵢ = theta^(−2i/D), i < D/2, rounded as PyTorch computes them in f32 (transformers' default
 * rotary init).
 */
export function ropeInverseFrequencies(D: number, theta: number): Float32Array {
  if (!Number.isInteger(D) || D < 2 || D % 2) throw new Error(`rope: head size ${D} must be even`);
  if (!(theta > 0)) throw new Error(`rope: rope_theta must be positive, got ${theta}`);
  const out = new Float32Array(D / 2);
  for (let i = 0; i < D / 2; i++) out[i] = 1 / Math.fround(theta ** Math.fround((2 * i) / D));
  return out;
}

/** [T][D/2][2] cos and sin of t·θᵢ, the angle rounded to f32 as PyTorch forms it (an f32 product). */
export function ropeTable(invFreq: Float32Array, T: number): Float32Array {
  const half = invFreq.length;
  const out = new Float32Array(T * half * 2);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const a = Math.fround(t * invFreq[i]!);
      out[2 * (t * half + i)] = Math.cos(a);
      out[2 * (t * half + i) + 1] = Math.sin(a);
    }
  }
  return out;
}

// Host tables for the last few (frequencies, T) pairs: every layer of every step asks for the same one. The GPU copy
// is per call, owned by the tape node (T·D floats, small next to the layer's activations).
const hostTables = new Map<string, Float32Array>();

function table(gpu: Gpu, invFreq: Float32Array, T: number): Tensor {
  const key = `${T}:${Array.from(invFreq).join(',')}`;
  let data = hostTables.get(key);
  if (!data) {
    data = ropeTable(invFreq, T);
    if (hostTables.size >= 4) hostTables.delete(hostTables.keys().next().value!);
    hostTables.set(key, data);
  }
  return fromArray(gpu, data, [T, invFreq.length, 2]);
}

/**
 * q [B,T,H·D], k and v [B,T,KV·D] → qkv [B,T,(H+2·KV)·D] with q and k rotated by their positions (recorded).
 * `invFreq` [D/2]: the family's inverse frequencies (ropeInverseFrequencies, or a scaled variant).
 */
export function ropeQkv(q: Tensor, k: Tensor, v: Tensor, H: number, KV: number, invFreq: Float32Array): Tensor {
  for (const [t, n] of [
    [q, 'q'],
    [k, 'k'],
    [v, 'v'],
  ] as const)
    assertF32(t, `rope ${n}`);
  const D = invFreq.length * 2;
  const [B, T] = q.shape as [number, number];
  const want = (t: Tensor, heads: number, n: string) => {
    if (t.shape.length !== 3 || t.shape[0] !== B || t.shape[1] !== T || t.shape[2] !== heads * D)
      throw new Error(`rope: ${n} has shape [${t.shape.join(', ')}], expected [${B}, ${T}, ${heads * D}]`);
  };
  want(q, H, 'q');
  want(k, KV, 'k');
  want(v, KV, 'v');
  const gpu = q.gpu;
  const cs = table(gpu, invFreq, T);
  const out = empty(gpu, [B, T, (H + 2 * KV) * D]);
  const n = B * T * (H + 2 * KV) * (D / 2);
  dispatchElements(gpu, ROPE_QKV_FORWARD, [q.view, k.view, v.view, cs.view, out.view], { B, T, H, KV, D }, n);
  if (isGradEnabled() && (q.requiresGrad || k.requiresGrad || v.requiresGrad))
    tape.record('ropeQkv', [q, k, v], [out], { B, T, H, KV, D, table: cs }, [cs]);
  else cs.dispose(); // the dispatch keeps its binding; the pool reuses the buffer only for later work
  return out;
}

type Slot = { t: Tensor; accumulate: boolean } | null;

/** dq, dk, dv from dqkv (each added to or written over; a missing one goes to scratch). */
export function ropeQkvBackward(
  dqkv: Tensor,
  cs: Tensor,
  dq: Slot,
  dk: Slot,
  dv: Slot,
  dims: { B: number; T: number; H: number; KV: number; D: number },
): void {
  if (!dq && !dk && !dv) return;
  const { B, T, H, KV, D } = dims;
  const gpu = dqkv.gpu;
  const scratch = !dq || !dk || !dv ? empty(gpu, [B * T * Math.max(H, KV) * D]) : null;
  const view = (s: Slot) => (s?.t ?? scratch!).view;
  dispatchElements(
    gpu,
    ROPE_QKV_BACKWARD,
    [dqkv.view, cs.view, view(dq), view(dk), view(dv)],
    dims,
    B * T * (H + 2 * KV) * (D / 2),
    { ACC_Q: dq?.accumulate ?? false, ACC_K: dk?.accumulate ?? false, ACC_V: dv?.accumulate ?? false },
  );
  scratch?.dispose();
}
