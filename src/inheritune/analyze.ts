// The lazy-layer analysis of a reference model (DESIGN.md "Attention rank"): a no-grad forward, layer by layer, that
// also writes each layer's batch-mean attention probabilities [H,T,T] (shaders/attention_probs.wgsl), reads them back
// and measures k* and m* per head on the host (rank.ts); then the lazy layers and the suggested n.

import probsSrc from '../../shaders/attention_probs.wgsl?raw';
import type { KernelSpec } from '../gpu/kernel';
import type { Gpt2Model } from '../model/gpt2';
import { embedding, empty, noGrad, tidy, type Tensor } from '../tensor';
import { blockAttention, blockMlp } from '../model/forward';
import { attentionForward } from '../tensor/ops/attention';
import { dispatchElements } from '../tensor/ops/launch';
import { type HeadRank, type Suggestion, isLazyLayer, kStar, mStar, RANK_THRESHOLD, suggestN } from './rank';

export const ATTENTION_PROBS: KernelSpec = {
  name: 'attention_probs',
  source: probsSrc,
  storage: ['read', 'read', 'rw'],
  uniforms: [
    ['B', 'u32'],
    ['T', 'u32'],
    ['H', 'u32'],
    ['D', 'u32'],
    ['scale', 'f32'],
  ],
};

export interface LayerRank {
  layer: number;
  heads: HeadRank[];
  lazy: boolean;
}

export interface AttentionReport {
  B: number;
  T: number;
  threshold: number;
  layers: LayerRank[];
  suggestion: Suggestion;
}

/**
 * qkv [B,T,3C] (H heads) → the attention output [B,T,C] and the post-softmax probabilities averaged over the batch
 * [H,T,T] (zero above the diagonal). Not recorded: analysis only.
 */
export function attentionWithProbs(qkv: Tensor, H: number): { out: Tensor; probs: Tensor } {
  const { out, lse, dims } = attentionForward(qkv, H);
  const probs = empty(qkv.gpu, [H, dims.T, dims.T]);
  dispatchElements(qkv.gpu, ATTENTION_PROBS, [qkv.view, lse.view, probs.view], { ...dims }, H * dims.T * dims.T);
  lse.dispose(); // the recorded dispatches keep their bindings; the pool reuses the buffer only for later work
  return { out, probs };
}

/** k* and m* of each head's [T,T] block in `probs` [H,T,T]. */
function rankHeads(probs: Float32Array, H: number, T: number): HeadRank[] {
  const heads: HeadRank[] = [];
  for (let h = 0; h < H; h++) {
    const a = probs.subarray(h * T * T, (h + 1) * T * T);
    heads.push({ kStar: kStar(a, T, RANK_THRESHOLD), mStar: mStar(a, T, RANK_THRESHOLD) });
  }
  return heads;
}

/**
 * Attention ranks of every layer and head of `model` on `tokens` [B·T] (B sequences of T, each from position 0).
 * The forward is model/forward.ts's blocks (blockAttention, blockMlp). While the GPU runs layer l, the host ranks layer l−1.
 */
export async function analyzeAttention(
  model: Gpt2Model,
  tokens: Int32Array,
  B: number,
  T: number,
  onProgress?: (done: number, total: number) => void,
): Promise<AttentionReport> {
  const { nLayer: L, nHead: H, nPositions } = model.config;
  if (!Number.isInteger(B) || B < 1 || !Number.isInteger(T) || T < 1)
    throw new Error(`analyzeAttention: batch ${B}×${T} must be positive integers`);
  if (T > nPositions) throw new Error(`Context ${T} exceeds the model's ${nPositions} positions (n_positions).`);
  if (tokens.length !== B * T) throw new Error(`${tokens.length} tokens for a batch of ${B}×${T}`);
  const p = model.lookup;
  const layers: LayerRank[] = [];
  const finish = (layer: number, probs: Float32Array) => {
    const heads = rankHeads(probs, H, T);
    layers.push({ layer, heads, lazy: isLazyLayer(heads) });
    onProgress?.(layer + 1, L);
  };

  let x = noGrad(() => embedding(tokens, B, T, p('wte.weight'), p('wpe.weight'))); // [B,T,C]
  let pending: Float32Array | null = null;
  try {
    for (let l = 0; l < L; l++) {
      const w = (n: string) => p(`h.${l}.${n}`);
      const step = noGrad(() =>
        tidy(() => {
          // The training forward's block, its attention keeping the probabilities.
          const kept: { probs?: Tensor } = {};
          const x1 = blockAttention(x, w, H, {
            attend: (qkv, nHead) => {
              const { out, probs } = attentionWithProbs(qkv, nHead);
              kept.probs = probs;
              return out;
            },
          });
          // The last block's output is never looked at: its attention probabilities are all the analysis needs.
          return { next: l === L - 1 ? null : blockMlp(x1, w), probs: kept.probs! };
        }),
      );
      if (step.next) {
        x.dispose();
        x = step.next;
      }
      try {
        const read = step.probs.readF32(); // submits layer l
        read.catch(() => {}); // awaited below; a throw while ranking must not leave it unhandled
        if (pending) finish(l - 1, pending);
        pending = await read;
      } finally {
        step.probs.dispose();
      }
    }
    if (pending) finish(L - 1, pending);
  } finally {
    x.dispose();
  }
  return { B, T, threshold: RANK_THRESHOLD, layers, suggestion: suggestN(layers.map((r) => r.lazy)) };
}
