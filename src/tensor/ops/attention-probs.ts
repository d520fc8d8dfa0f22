// Attention probabilities for analysis (DESIGN.md "Attention rank"): the forward, plus the post-softmax matrix of
// every head averaged over the batch, [H, T, T], rebuilt from the forward's log-sum-exp (shaders/attention_probs.wgsl).
// Not recorded: nothing backpropagates through an analysis.

import probsSrc from '../../../shaders/attention_probs.wgsl?raw';
import { kernel } from '../../gpu/kernel';
import { empty, type Tensor } from '../tensor';
import { attentionForward } from './attention';
import { dispatchElements } from './launch';

export const ATTENTION_PROBS = kernel({
  name: 'attention_probs',
  source: probsSrc,
  storage: ['read', 'read', 'rw'],
  uniforms: [
    ['B', 'u32'],
    ['T', 'u32'],
    ['H', 'u32'],
    ['KV', 'u32'],
    ['D', 'u32'],
    ['scale', 'f32'],
  ],
});

/**
 * qkv [B,T,(H+2·KV)·D] (H query heads, KV key/value heads) → the attention output [B,T,H·D] and the post-softmax
 * probabilities of every query head averaged over the batch [H,T,T] (zero above the diagonal).
 */
export function attentionWithProbs(qkv: Tensor, H: number, KV = H): { out: Tensor; probs: Tensor } {
  const { out, lse, dims } = attentionForward(qkv, H, KV);
  const probs = empty(qkv.gpu, [H, dims.T, dims.T]);
  dispatchElements(qkv.gpu, ATTENTION_PROBS, [qkv.view, lse.view, probs.view], { ...dims }, H * dims.T * dims.T);
  lse.dispose(); // the recorded dispatches keep their bindings; the pool reuses the buffer only for later work
  return { out, probs };
}
