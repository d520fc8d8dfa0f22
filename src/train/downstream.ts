// Zero-shot scores beside validation loss (README "Downstream scores"), on the same validation windows: top-1
// next-token accuracy over every predicted token, and LAMBADA-style last-word prediction: in each window (a passage
// of ctx+1 tokens), its last complete word after the first token is predicted from everything before it; greedy
// whole-word accuracy (every token of the word is the model's top-1 given the true prefix, which is what greedy
// decoding of the word needs) and the word's log-probability (the sum over its tokens, nats). Words are found from the
// tokenizer alone (how it decodes each id), so the definition is the same for every family.

import { validationWindows } from '../io/corpus';
import type { Tokenizer } from '../io/tokenizer';
import type { Model } from '../model/model';
import { headTokenScores, noGrad, tidy } from '../tensor';

export interface Downstream {
  /** Top-1 next-token accuracy over every target of the windows. */
  top1: number;
  /** Windows with a last word (the passages scored), and the share whose word the model predicts whole. */
  passages: number;
  lastWord: number | null;
  /** Mean over those passages of the word's log-probability given its context (nats). */
  lastWordLogp: number | null;
}

/**
 * What a token is to a word: `start` (begins one: it decodes with leading whitespace, or after a copy of itself with
 * whitespace between), `cont` (letters, digits or apostrophes glued to the token before), `space` (only whitespace:
 * it ends a word, and a `cont` after it starts one), `other` (punctuation, symbols, partial bytes: ends a word).
 */
export type WordClass = 'start' | 'cont' | 'space' | 'other';

const WORDISH = /^[\p{L}\p{N}']+$/u;

export function wordClass(decode: Tokenizer['decode'], id: number): WordClass {
  const d = decode([id]);
  if (d.length === 0 || /^\s+$/u.test(d)) return 'space';
  if (!WORDISH.test(d.replace(/^\s+/u, ''))) return 'other';
  if (/^\s/u.test(d)) return 'start';
  // Decoders that drop a first token's leading space (SentencePiece's ▁) show it between two copies.
  const dd = decode([id, id]);
  return /\s$/u.test(dd.slice(0, dd.length - d.length)) ? 'start' : 'cont';
}

/** Word classes by id, each decoded once. */
export function wordClasses(tokenizer: Pick<Tokenizer, 'decode'>): (id: number) => WordClass {
  const memo = new Map<number, WordClass>();
  return (id) => {
    let c = memo.get(id);
    if (c === undefined) {
      c = wordClass((ids) => tokenizer.decode(ids), id);
      memo.set(id, c);
    }
    return c;
  };
}

/**
 * The last word of a passage `w` (ctx+1 token ids): the last run [a, b] of a word's tokens (a `start`, or a `cont`
 * after `space`, then `cont`s) with a ≥ 1 (some context) and b < w.length − 1 (the token after it is in the passage
 * and does not continue it); null when there is none.
 */
export function lastWordSpan(w: ArrayLike<number>, cls: (id: number) => WordClass): { a: number; b: number } | null {
  const n = w.length;
  const c = Array.from({ length: n }, (_, i) => cls(w[i]!));
  for (let b = n - 2; b >= 1; b--) {
    if (c[b] !== 'start' && c[b] !== 'cont') continue;
    if (c[b + 1] === 'cont') continue; // the word goes on
    let a = b;
    while (a > 0 && c[a] === 'cont' && c[a - 1] !== 'space') a--;
    const starts = c[a] === 'start' || (c[a] === 'cont' && a > 0 && c[a - 1] === 'space');
    // A run reaching the passage's first token may have begun before it: no context, and not known whole.
    if (starts && a >= 1) return { a, b };
  }
  return null;
}

/**
 * The scores from per-target log-probabilities and top-1 flags of `windows` windows of `ctx` targets (row r of window
 * k predicts token r+1 of the passage).
 */
export function downstreamFrom(
  passages: ArrayLike<number>[],
  logp: ArrayLike<number>,
  top1: ArrayLike<number>,
  ctx: number,
  cls: (id: number) => WordClass,
): Downstream {
  let hits = 0;
  for (let i = 0; i < logp.length; i++) hits += top1[i]! ? 1 : 0;
  let scored = 0;
  let whole = 0;
  let lp = 0;
  passages.forEach((w, k) => {
    const span = lastWordSpan(w, cls);
    if (!span) return;
    scored++;
    let all = true;
    let sum = 0;
    // Token j of the passage is row j − 1 of its window.
    for (let j = span.a; j <= span.b; j++) {
      const r = k * ctx + j - 1;
      all &&= !!top1[r];
      sum += logp[r]!;
    }
    whole += all ? 1 : 0;
    lp += sum;
  });
  return {
    top1: logp.length ? hits / logp.length : 0,
    passages: scored,
    lastWord: scored ? whole / scored : null,
    lastWordLogp: scored ? lp / scored : null,
  };
}

/** The passages of the validation windows: window k is tokens k·ctx … k·ctx + ctx of the validation split. */
export function passagesOf(val: Uint32Array, ctx: number, windows: number): Uint32Array[] {
  return Array.from({ length: windows }, (_, k) => val.subarray(k * ctx, k * ctx + ctx + 1));
}

/** A model's downstream scores on the validation windows (its forward in batches, no grad). */
export async function downstreamScores(
  model: Model,
  val: Uint32Array,
  ctx: number,
  windows: number,
  cls: (id: number) => WordClass,
  opts: { batch?: number } = {},
): Promise<Downstream> {
  const w = validationWindows(val, ctx, windows);
  const per = Math.max(1, Math.min(w.windows, opts.batch ?? Math.floor(4096 / ctx)));
  const logp = new Float32Array(w.windows * ctx);
  const top1 = new Float32Array(w.windows * ctx);
  for (let i = 0; i < w.windows; i += per) {
    const B = Math.min(per, w.windows - i);
    const rows = [i * ctx, (i + B) * ctx] as const;
    const s = noGrad(() =>
      tidy(() =>
        headTokenScores(model.hidden(w.inputs.subarray(...rows), B, ctx), model.head(), w.targets.subarray(...rows)),
      ),
    );
    logp.set(await s.logp.readF32(), rows[0]);
    top1.set(await s.top1.readF32(), rows[0]);
    s.logp.dispose();
    s.top1.dispose();
  }
  return downstreamFrom(passagesOf(val, ctx, w.windows), logp, top1, ctx, cls);
}
