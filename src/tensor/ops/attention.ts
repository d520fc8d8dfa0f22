// Causal multi-head self-attention straight from c_attn's output qkv [B,T,3C] to [B,T,C]: one kernel forward
// (saving only the log-sum-exp per row), two deterministic kernels backward (query side, key/value side).

import fwdSrc from '../../../shaders/attention_forward.wgsl?raw';
import dqSrc from '../../../shaders/attention_backward_dq.wgsl?raw';
import dkvSrc from '../../../shaders/attention_backward_dkv.wgsl?raw';
import type { KernelSpec } from '../../gpu/kernel';
import type { Gpu } from '../../gpu/runtime';
import { tape } from '../tape';
import { empty, type Tensor } from '../tensor';
import { assertF32, dispatchRows } from './launch';

const DIMS = [['B', 'u32'], ['T', 'u32'], ['H', 'u32'], ['D', 'u32'], ['scale', 'f32']] as const;
export const ATTENTION_FORWARD: KernelSpec = { name: 'attention_forward', source: fwdSrc, storage: ['read', 'rw', 'rw'], uniforms: DIMS };
export const ATTENTION_BACKWARD_DQ: KernelSpec = {
  name: 'attention_backward_dq', source: dqSrc, storage: ['read', 'read', 'read', 'read', 'rw', 'rw'], uniforms: DIMS,
};
export const ATTENTION_BACKWARD_DKV: KernelSpec = {
  name: 'attention_backward_dkv', source: dkvSrc, storage: ['read', 'read', 'read', 'read', 'rw'], uniforms: DIMS,
};

/** attention_forward's T_MAX for context T: workgroup memory for two rows of T floats, rounded up to a power of two. */
function attentionTMax(gpu: Gpu, T: number, D: number): number {
  if (D > 256) throw new Error(`attention: head size ${D} exceeds the supported 256`);
  // Round up so nearby context lengths share a pipeline.
  const t = Math.max(64, 2 ** Math.ceil(Math.log2(T)));
  const need = (2 * t + 2 * 256 + 64) * 4;
  const have = gpu.limits.maxComputeWorkgroupStorageSize ?? 16384;
  if (need > have) {
    throw new Error(`attention: context ${T} needs ${need} bytes of workgroup memory; this adapter's maxComputeWorkgroupStorageSize is ${have}. Use a shorter context.`);
  }
  return t;
}

export interface AttentionDims {
  B: number;
  T: number;
  H: number;
  D: number;
  scale: number;
}

/**
 * The unrecorded forward: qkv [B,T,3C] → out [B,T,C] and the log-sum-exp lse [B,H,T] of each query row's scaled
 * scores. attention() records it for backward; the attention-rank analysis builds probabilities from lse.
 */
export function attentionForward(qkv: Tensor, H: number): { out: Tensor; lse: Tensor; dims: AttentionDims } {
  assertF32(qkv, 'attention');
  if (qkv.shape.length !== 3) throw new Error(`attention expects qkv [B,T,3C], got [${qkv.shape.join(', ')}]`);
  const [B, T, C3] = qkv.shape as [number, number, number];
  if (C3 % 3 || (C3 / 3) % H) throw new Error(`attention: width ${C3 / 3} is not divisible into ${H} heads`);
  const C = C3 / 3;
  const D = C / H;
  const gpu = qkv.gpu;
  const out = empty(gpu, [B, T, C]);
  const lse = empty(gpu, [B, H, T]);
  const dims = { B, T, H, D, scale: 1 / Math.sqrt(D) };
  dispatchRows(gpu, ATTENTION_FORWARD, [qkv.view, out.view, lse.view], dims, B * H * T, { T_MAX: attentionTMax(gpu, T, D) });
  return { out, lse, dims };
}

/** qkv [B,T,3C] → [B,T,C] with H heads (recorded). */
export function attention(qkv: Tensor, H: number): Tensor {
  const { out, lse, dims: { B, T, D } } = attentionForward(qkv, H);
  tape.record('attention', [qkv], [out], { B, T, H, D, lse }, [lse]);
  return out;
}

/** Accumulates dqkv from dOut, given the forward's qkv, out and lse. */
export function attentionBackward(qkv: Tensor, out: Tensor, dOut: Tensor, lse: Tensor, dqkv: Tensor, B: number, T: number, H: number, D: number): void {
  const gpu = qkv.gpu;
  const dims = { B, T, H, D, scale: 1 / Math.sqrt(D) };
  const constants = { T_MAX: attentionTMax(gpu, T, D) };
  const delta = empty(gpu, [B, H, T]);
  dispatchRows(gpu, ATTENTION_BACKWARD_DQ, [qkv.view, out.view, dOut.view, lse.view, delta.view, dqkv.view], dims, B * H * T, constants);
  dispatchRows(gpu, ATTENTION_BACKWARD_DKV, [qkv.view, dOut.view, lse.view, delta.view, dqkv.view], dims, B * H * T, constants);
  delta.dispose();
}
