// The lazy-layer analysis of a reference model (DESIGN.md "Attention rank"): a no-grad forward through the family's
// blocks, layer by layer, each also writing its batch-mean attention probabilities [H,T,T], read back and measured on
// the host (k* and m* per head, rank.ts); then the lazy layers and the suggested n.

import type { ModelConfig, ModelFamily, ParamLookup } from '../model/family';
import type { Stage } from '../model/streamed';
import { noGrad, type Tensor, tidy } from '../tensor';
import { type HeadRank, isLazyLayer, kStar, mStar, RANK_THRESHOLD, type Suggestion, suggestN } from './rank';

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
 * What the analysis runs on: a Model (all resident), or StreamedWeights (each stage's tensors loaded by `prepare`).
 */
export interface LayerSource {
  family: ModelFamily;
  config: ModelConfig;
  lookup: ParamLookup;
  prepare?(stage: Stage): Promise<void>;
  release?(): void;
}

/**
 * Attention ranks of every layer and head of `model` on `tokens` [B·T] (B sequences of T, each from position 0).
 * The forward is the training forward's blocks (the family's), their attention also keeping the probabilities. While
 * the GPU runs layer l, the host ranks layer l−1.
 */
export async function analyzeAttention(
  model: LayerSource,
  tokens: Int32Array,
  B: number,
  T: number,
  onProgress?: (done: number, total: number) => void,
): Promise<AttentionReport> {
  const { family, config: c, lookup: p } = model;
  const { layers: L, heads: H, positions } = c;
  if (!Number.isInteger(B) || B < 1 || !Number.isInteger(T) || T < 1)
    throw new Error(`analyzeAttention: batch ${B}×${T} must be positive integers`);
  if (T > positions) throw new Error(`Context ${T} exceeds the model's ${positions} positions.`);
  if (tokens.length !== B * T) throw new Error(`${tokens.length} tokens for a batch of ${B}×${T}`);
  const layers: LayerRank[] = [];
  const finish = (layer: number, probs: Float32Array) => {
    const heads = rankHeads(probs, H, T);
    layers.push({ layer, heads, lazy: isLazyLayer(heads) });
    onProgress?.(layer + 1, L);
  };

  let x: Tensor | null = null;
  let pending: Float32Array | null = null;
  try {
    await model.prepare?.('embed');
    x = noGrad(() => family.embed(p, c, tokens, B, T)); // [B,T,C]
    for (let l = 0; l < L; l++) {
      await model.prepare?.(l);
      const input: Tensor = x;
      const step = noGrad(() =>
        tidy(() => {
          const kept: { probs?: Tensor } = {};
          const next = family.block(p, c, l, input, {
            onProbs: (probs) => {
              kept.probs = probs;
            },
          });
          if (!kept.probs)
            throw new Error(`The ${family.label} family's block gave no attention probabilities to analyse.`);
          return { next, probs: kept.probs };
        }),
      );
      input.dispose();
      x = step.next;
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
    x?.dispose();
    model.release?.();
  }
  return { B, T, threshold: RANK_THRESHOLD, layers, suggestion: suggestN(layers.map((r) => r.lazy)) };
}
