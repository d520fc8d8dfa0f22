// Tokenizers for corpora (DESIGN.md "Tokens"): the interface every family's tokenizer offers, and GPT-2's BPE, whose
// whole-text encoding is computed in pieces (progress, a responsive worker) that give exactly the stream of encoding
// the text at once. Streams are uint32. Browser-safe: js-tiktoken's bundled ranks, no node: APIs.

import { Tiktoken } from 'js-tiktoken/lite';
import gpt2 from 'js-tiktoken/ranks/gpt2';

/** GPT-2's vocabulary size; ids are 0 … 50256 (50256 is <|endoftext|>). */
export const GPT2_VOCAB = 50257;
export const GPT2_EOT = 50256;
export const DEFAULT_PIECE_CHARS = 64 * 1024;

/** A tokenizer as the engine uses it: ids 0 … vocabSize−1, whole-text encoding with progress, decoding. */
export interface Tokenizer {
  /** Names the vocabulary (a saved run's tokens are only valid for the tokenizer that made them). */
  readonly id: string;
  readonly vocabSize: number;
  /** The token an empty prompt starts sampling from. */
  readonly startToken: number;
  /** The whole text's ids, as encoding it at once gives them; onProgress counts UTF-16 code units. */
  encode(text: string, onProgress?: (done: number, total: number) => void): Promise<Uint32Array>;
  /** Text of an id sequence (byte sequences cut mid-character decode to U+FFFD). */
  decode(ids: ArrayLike<number>): string;
}

let encoder: Tiktoken | null = null;
// Building the rank table parses ~50k entries: do it once, and only when someone tokenizes.
function gpt2Encoder(): Tiktoken {
  encoder ??= new Tiktoken(gpt2);
  return encoder;
}

// js-tiktoken by default *throws* on "<|endoftext|>" in the text (disallowedSpecial = "all"). A user's corpus is
// plain text, so nothing is allowed and nothing disallowed: the marker is encoded as the characters it is made of.
function encodePlain(text: string): number[] {
  return gpt2Encoder().encode(text, [], []);
}

const NON_WS = /\S/u;

/**
 * Whether a piece may end right after the "\n" at index i. GPT-2's pre-tokenizer
 * ('s|'t|…| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+) never lets a match run from a non-whitespace
 * character into whitespace, and a lone "\n" before non-whitespace is a match of its own, so both sides of such a
 * newline are pre-token boundaries wherever the scan started. Any other whitespace is not safe: a run like "\n\n" or
 * " \n" is split by the (?!\S) look-ahead depending on what follows, which a piece boundary would hide.
 * (JS's \s is the same set the u-flag pattern uses, so "\r\n", NBSP etc. count as whitespace here too.)
 */
function isCut(text: string, i: number): boolean {
  return (
    i >= 1 && i + 1 < text.length && text.charCodeAt(i) === 10 && NON_WS.test(text[i - 1]!) && NON_WS.test(text[i + 1]!)
  );
}

/** End (exclusive) of the piece starting at `start`: just after the last safe newline within `pieceChars`, else the first one beyond, else the end of the text. */
export function pieceEnd(text: string, start: number, pieceChars: number): number {
  const limit = start + pieceChars;
  if (limit >= text.length) return text.length;
  for (let i = text.lastIndexOf('\n', limit - 1); i > start; i = text.lastIndexOf('\n', i - 1)) {
    if (isCut(text, i)) return i + 1;
  }
  for (let i = text.indexOf('\n', limit); i !== -1; i = text.indexOf('\n', i + 1)) {
    if (isCut(text, i)) return i + 1;
  }
  return text.length;
}

/**
 * GPT-2 BPE of the whole text, equal to encoding it in one call, computed in pieces of about `pieceChars`
 * UTF-16 code units with a macrotask yield between pieces. `onProgress(done, total)` counts code units: it is
 * called after every piece, never decreases, and ends at done = total = text.length.
 */
export async function encodeGpt2(
  text: string,
  onProgress?: (done: number, total: number) => void,
  opts?: { pieceChars?: number },
): Promise<Uint32Array> {
  const pieceChars = opts?.pieceChars ?? DEFAULT_PIECE_CHARS;
  if (!Number.isInteger(pieceChars) || pieceChars < 1)
    throw new Error(`encodeGpt2: pieceChars must be a positive integer, got ${pieceChars}`);
  const total = text.length;
  const parts: number[][] = [];
  let count = 0;
  for (let start = 0; start < total; ) {
    const end = pieceEnd(text, start, pieceChars);
    const ids = encodePlain(text.slice(start, end));
    parts.push(ids);
    count += ids.length;
    start = end;
    onProgress?.(start, total);
    // setTimeout rather than a microtask: only a macrotask lets the page paint or a worker take messages.
    if (start < total) await new Promise((r) => setTimeout(r, 0));
  }
  if (total === 0) onProgress?.(0, 0);
  const out = new Uint32Array(count);
  let k = 0;
  for (const ids of parts) {
    for (const id of ids) {
      if (!(id >= 0 && id < GPT2_VOCAB))
        throw new Error(`encodeGpt2: token id ${id} outside GPT-2's vocabulary [0, ${GPT2_VOCAB})`);
      out[k++] = id;
    }
  }
  return out;
}

/** Text of a GPT-2 id sequence (byte sequences cut mid-character decode to U+FFFD). */
export function decodeGpt2(ids: ArrayLike<number>): string {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!(Number.isInteger(id) && id >= 0 && id < GPT2_VOCAB))
      throw new Error(`decodeGpt2: id ${id} at position ${i} outside GPT-2's vocabulary [0, ${GPT2_VOCAB})`);
  }
  return gpt2Encoder().decode(Array.from(ids));
}

/** GPT-2's BPE (js-tiktoken's ranks): 50,257 ids, <|endoftext|> the start of an empty prompt. */
export const gpt2Bpe: Tokenizer = {
  id: 'gpt2',
  vocabSize: GPT2_VOCAB,
  startToken: GPT2_EOT,
  encode: (text, onProgress) => encodeGpt2(text, onProgress),
  decode: (ids) => decodeGpt2(ids),
};
