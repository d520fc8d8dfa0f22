// Which n can start an Inheritune run, and the sizes its rounds will train at: shared by the CLI, the worker and the
// run form (no imports, so the page's main bundle takes it cheaply).

/**
 * What is wrong with starting an Inheritune run at n on a k-block reference (a phrase that follows "n"), or null.
 * n = k is refused: it inherits the whole reference and leaves nothing to grow, so the "run" would only fine-tune it.
 */
export function inheritNProblem(n: number, k: number): string | null {
  if (k < 2)
    return `cannot be chosen: the reference has ${k} block and Inheritune inherits fewer blocks than the reference has`;
  if (!Number.isInteger(n))
    return `must be a whole number from 1 to ${k - 1}, got ${Number.isFinite(n) ? n : 'nothing'}`;
  if (n < 1) return `must be at least 1 (n = ${n} inherits no transformer block): pick 1 to ${k - 1}`;
  if (n === k)
    return `= ${k} inherits the whole ${k}-block reference and leaves nothing to grow: pick 1 to ${k - 1} (to fine-tune the whole reference, train it instead)`;
  if (n > k) return `= ${n} is more than the reference's ${k} blocks: pick 1 to ${k - 1}`;
  return null;
}

/**
 * The sizes Inheritune's rounds train at, n, n+2, … up to k (it stops early once validation loss matches the
 * reference's), in words. When k − n is odd the last grow adds one block, not two; the plan says so.
 */
export function growPlan(n: number, k: number): { sizes: number[]; text: string } {
  const sizes: number[] = [];
  for (let m = n; m < k; m += 2) sizes.push(m);
  sizes.push(k);
  const odd = (k - n) % 2 === 1;
  const text =
    `rounds at ${sizes.join(' → ')} blocks, stopping once val loss matches the reference` +
    (odd ? `; k − n = ${k - n} is odd, so the last grow adds 1 block instead of 2` : '');
  return { sizes, text };
}

/** The default n: half the reference's blocks (at least 1). */
export function defaultN(k: number): number {
  return Math.max(1, Math.floor(k / 2));
}
