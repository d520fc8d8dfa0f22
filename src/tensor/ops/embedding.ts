// Token (+ position) embedding: out[b,t] = table[token] (+ positions[t]). Token ids live on the host (they came from the
// tokenizer), so the backward's grouping by token id is computed here once and the table's gradient needs no atomics.

import fwdSrc from '../../../shaders/embedding_forward.wgsl?raw';
import tokensSrc from '../../../shaders/embedding_backward_tokens.wgsl?raw';
import positionsSrc from '../../../shaders/embedding_backward_positions.wgsl?raw';
import { kernel } from '../../gpu/kernel';
import type { Gpu } from '../../gpu/runtime';
import type { TokenBuckets } from '../opkinds';
import { isGradEnabled, tape } from '../tape';
import { empty, fromArray, type Tensor } from '../tensor';
import { assertF32, dispatchElements, dispatchRows } from './launch';

export const EMBEDDING_FORWARD = kernel({
  name: 'embedding_forward',
  source: fwdSrc,
  storage: ['read', 'read', 'read', 'rw'],
  uniforms: [
    ['BT', 'u32'],
    ['T', 'u32'],
    ['C', 'u32'],
  ],
});
export const EMBEDDING_BACKWARD_TOKENS = kernel({
  name: 'embedding_backward_tokens',
  source: tokensSrc,
  storage: ['read', 'read', 'read', 'read', 'rw'],
  uniforms: [
    ['U', 'u32'],
    ['C', 'u32'],
  ],
});
export const EMBEDDING_BACKWARD_POSITIONS = kernel({
  name: 'embedding_backward_positions',
  source: positionsSrc,
  storage: ['read', 'rw'],
  uniforms: [
    ['B', 'u32'],
    ['T', 'u32'],
    ['C', 'u32'],
  ],
});

/**
 * Groups positions 0…n−1 by token id: CSR arrays with ids ascending and positions ascending within each id. A
 * counting sort (ids are small non-negative integers): O(n + largest id), about 0.3 ms for a GPT-2 batch of 8192
 * tokens on the CI VM, where a comparison sort took 2.4 ms of every update's host time.
 */
export function bucketTokens(tokens: ArrayLike<number>): {
  ids: Int32Array;
  starts: Int32Array;
  positions: Int32Array;
} {
  const n = tokens.length;
  let max = -1;
  for (let i = 0; i < n; i++) max = Math.max(max, tokens[i]!);
  const start = new Int32Array(max + 2); // start[v] = positions of ids below v
  for (let i = 0; i < n; i++) start[tokens[i]! + 1]!++;
  let unique = 0;
  for (let v = 0; v <= max; v++) {
    if (start[v + 1]) unique++;
    start[v + 1]! += start[v]!;
  }
  const ids = new Int32Array(unique);
  const starts = new Int32Array(unique + 1);
  for (let v = 0, u = 0; v <= max; v++) {
    if (start[v + 1] === start[v]) continue;
    ids[u] = v;
    starts[u++] = start[v]!;
  }
  starts[unique] = n;
  const positions = new Int32Array(n);
  for (let i = 0; i < n; i++) positions[start[tokens[i]!]!++] = i; // in order of i: ascending within an id
  return { ids, starts, positions };
}

/**
 * The buckets on the GPU. ids and starts are sized for n distinct tokens whatever the batch holds (the kernel reads
 * the first `unique`), so every update binds buffers of the same sizes and reuses its bind groups.
 */
function uploadBuckets(gpu: Gpu, tokens: Int32Array): TokenBuckets {
  const b = bucketTokens(tokens);
  const n = tokens.length;
  const ids = empty(gpu, [n], 'i32');
  const starts = empty(gpu, [n + 1], 'i32');
  gpu.upload(ids.view, b.ids);
  gpu.upload(starts.view, b.starts);
  return { ids, starts, positions: fromArray(gpu, b.positions, [n], 'i32'), unique: b.ids.length };
}

/**
 * tokens [B·T] → table[token] + positions[t], [B, T, C]; table [V, C], positions [P, C] (P ≥ T), or null for a
 * model without a position table (the Llama family's rotary embedding acts inside attention).
 */
export function embedding(tokens: Int32Array, B: number, T: number, table: Tensor, positions: Tensor | null): Tensor {
  assertF32(table, 'embedding table');
  const [V, C] = table.shape as [number, number];
  if (tokens.length !== B * T) throw new Error(`embedding: ${tokens.length} tokens for B=${B}, T=${T}`);
  const P = positions?.shape[0] ?? T;
  if (T > P) throw new Error(`embedding: context ${T} exceeds the model's ${P} positions`);
  if (positions && positions.shape[1] !== C)
    throw new Error(`embedding: the token table's width ${C} and the position table's ${positions.shape[1]} differ`);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!(t >= 0 && t < V))
      throw new Error(`embedding: token id ${t} at position ${i} is outside the vocabulary of ${V}`);
  }
  const gpu = table.gpu;
  const tok = fromArray(gpu, tokens, [B * T], 'i32');
  const out = empty(gpu, [B, T, C]);
  dispatchElements(
    gpu,
    EMBEDDING_FORWARD,
    [tok.view, table.view, (positions ?? table).view, out.view],
    { BT: B * T, T, C },
    B * T * C,
    { POSITIONS: positions !== null },
  );
  tok.dispose();
  if (isGradEnabled() && (table.requiresGrad || positions?.requiresGrad)) {
    const buckets = uploadBuckets(gpu, tokens);
    tape.record('embedding', positions ? [table, positions] : [table], [out], { B, T, C, buckets }, [
      buckets.ids,
      buckets.starts,
      buckets.positions,
    ]);
  }
  return out;
}

export function embeddingBackward(
  dOut: Tensor,
  dTable: Tensor | null,
  dPositions: Tensor | null,
  B: number,
  T: number,
  C: number,
  buckets: TokenBuckets,
): void {
  const gpu = dOut.gpu;
  if (dTable) {
    dispatchRows(
      gpu,
      EMBEDDING_BACKWARD_TOKENS,
      [buckets.ids.view, buckets.starts.view, buckets.positions.view, dOut.view, dTable.view],
      { U: buckets.unique, C },
      buckets.unique,
    );
  }
  if (dPositions) dispatchElements(gpu, EMBEDDING_BACKWARD_POSITIONS, [dOut.view, dPositions.view], { B, T, C }, T * C);
}
