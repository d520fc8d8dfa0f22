// The host-side grouping of a batch's positions by token id that the wte gradient kernel walks (no atomics): the
// counting sort against a plain comparison sort.

import { describe, expect, it } from 'vitest';
import { bucketTokens } from '../../src/tensor/ops/embedding';
import { Rng } from '../../src/util/rng';

/** The obvious way: sort positions by (id, position), then cut at each new id. */
function reference(tokens: number[]) {
  const order = tokens.map((_, i) => i).sort((a, b) => tokens[a]! - tokens[b]! || a - b);
  const ids: number[] = [];
  const starts: number[] = [];
  order.forEach((p, k) => {
    if (k === 0 || tokens[p] !== tokens[order[k - 1]!]) {
      ids.push(tokens[p]!);
      starts.push(k);
    }
  });
  starts.push(tokens.length);
  return { ids, starts, positions: order };
}

describe('bucketTokens', () => {
  it('matches a comparison sort: ids ascending, positions ascending within an id, CSR starts', () => {
    const rng = new Rng(11);
    const cases: number[][] = [
      [0],
      [7],
      [3, 3, 3, 3],
      [5, 4, 3, 2, 1, 0],
      [0, 50256, 0, 50256, 17],
      Array.from({ length: 8192 }, () => rng.int(50257)),
      Array.from({ length: 1000 }, () => rng.int(5)), // few ids, long buckets
      Array.from({ length: 300 }, (_, i) => 299 - i), // all distinct, descending
    ];
    for (const tokens of cases) {
      const got = bucketTokens(tokens);
      const want = reference(tokens);
      expect([...got.ids]).toEqual(want.ids);
      expect([...got.starts]).toEqual(want.starts);
      expect([...got.positions]).toEqual(want.positions);
    }
  });
});
