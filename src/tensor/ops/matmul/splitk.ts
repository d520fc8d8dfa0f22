// Split-K planning: which products run in K slices summed afterwards, decided from the arguments alone.

import type { BufferView } from '../../../gpu/runtime';

/** 128×128 tiles a split-K product aims to fill (a large GPU holds about two per multiprocessor). */
const SPLIT_TILES = 256;
/** Least K per part and most parts. The partial sums (parts × M·N floats, under 32 MiB: a split has few tiles) come from the pool. */
const SPLIT_MIN_K = 1024;
const SPLIT_MAX_PARTS = 64;

/**
 * Split-K plan of a product: the K range per part (a multiple of 64) and the number of parts, or null for none. A
 * product with few output tiles and a long K (weight gradients, K = batch × context; the tied head's dx, K =
 * vocabulary) would leave most of a GPU idle, each workgroup walking all of K; split, each part sums its K range into
 * a scratch and the parts are then added in a fixed order. Batched products, and those with a bias, an epilogue or a
 * beta other than 0 or 1, run whole. The plan depends on the arguments alone (never on timing or the adapter), so a run's
 * numbers do not change with the machine's load or between a run and its resume.
 */
export function splitK(s: {
  M: number;
  N: number;
  K: number;
  batch?: number;
  bias?: BufferView | null;
  beta?: number;
  residual?: BufferView | null;
  gelu?: BufferView | null;
}): { kChunk: number; parts: number } | null {
  const beta = s.beta ?? 0;
  if ((s.batch ?? 1) !== 1 || s.bias || s.residual || s.gelu || (beta !== 0 && beta !== 1) || s.M === 0 || s.N === 0)
    return null;
  const tiles = Math.ceil(s.M / 128) * Math.ceil(s.N / 128);
  const parts = Math.min(Math.ceil(SPLIT_TILES / tiles), Math.floor(s.K / SPLIT_MIN_K), SPLIT_MAX_PARTS);
  if (parts < 2) return null;
  const kChunk = Math.ceil(s.K / parts / 64) * 64;
  return { kChunk, parts: Math.ceil(s.K / kChunk) };
}
