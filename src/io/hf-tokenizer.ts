// A reference's own tokenizer (DESIGN.md "Tokens"): its tokenizer.json + tokenizer_config.json through
// @huggingface/tokenizers (pure JS, offline), as the engine's Tokenizer. The corpus stream is the whole text encoded
// without special tokens; it is computed in pieces (progress, a responsive worker, and speed: the library's BPE is
// superlinear in a pre-token's length, and SentencePiece-style tokenizers make the whole text one pre-token) that
// give exactly that stream. Browser-safe.

import { Tokenizer as HfLibTokenizer } from '@huggingface/tokenizers';
import type { Tokenizer } from './tokenizer';

/** The two files, as text. */
export interface TokenizerFiles {
  /** tokenizer.json */
  json: string;
  /** tokenizer_config.json (optional: special tokens, BOS) */
  config?: string;
}

/** A tokenizer file that cannot be used; the message names the file. */
export class TokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerError';
  }
}

const PIECE_CHARS = 4096;
const NON_WS = /\S/u;

/** FNV-1a of the text, hex: names the vocabulary (a saved run's tokens are valid only for the tokenizer that made them). */
function fingerprint(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

function parse(text: string, file: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new TokenizerError(`${file} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** Opens a Hugging Face tokenizer; a TokenizerError names what is wrong with the files. */
export function hfTokenizer(files: TokenizerFiles): Tokenizer {
  const json = parse(files.json, 'tokenizer.json');
  const config = files.config === undefined ? {} : parse(files.config, 'tokenizer_config.json');
  const model = json.model as Record<string, unknown> | undefined;
  if (!model || typeof model !== 'object' || typeof model.type !== 'string')
    throw new TokenizerError('tokenizer.json has no "model" with a "type": not a Hugging Face tokenizer file.');
  if (model.type !== 'BPE' && model.type !== 'Unigram' && model.type !== 'WordPiece' && model.type !== 'WordLevel')
    throw new TokenizerError(`tokenizer.json: model type "${model.type}" is not supported.`);
  let lib: HfLibTokenizer;
  try {
    lib = new HfLibTokenizer(json, config);
  } catch (e) {
    throw new TokenizerError(`tokenizer.json could not be read: ${(e as Error).message}`);
  }
  // ids 0 … vocabSize−1: the model's vocabulary and the added tokens.
  let vocabSize = 0;
  const vocab = model.vocab;
  if (Array.isArray(vocab)) vocabSize = vocab.length;
  else if (vocab && typeof vocab === 'object')
    for (const id of Object.values(vocab as Record<string, number>)) vocabSize = Math.max(vocabSize, id + 1);
  for (const t of (json.added_tokens as { id: number }[] | undefined) ?? []) vocabSize = Math.max(vocabSize, t.id + 1);
  if (vocabSize < 1) throw new TokenizerError('tokenizer.json has an empty vocabulary.');

  const special = (k: string): number | undefined => {
    const v = config[k];
    const content =
      typeof v === 'string' ? v : v && typeof v === 'object' ? (v as { content?: string }).content : undefined;
    return content === undefined ? undefined : lib.token_to_id(content);
  };
  const startToken = special('bos_token') ?? special('eos_token') ?? 0;
  const encodeOne = (s: string): number[] => lib.encode(s, { add_special_tokens: false }).ids;

  return {
    id: `hf:${model.type}:${vocabSize}:${fingerprint(files.json)}`,
    vocabSize,
    startToken,
    encode: (text, onProgress) => encodeInPieces(text, encodeOne, vocabSize, onProgress),
    decode: (ids) => lib.decode(Array.from(ids), { skip_special_tokens: false }),
  };
}

/** Whether a piece may start right after the "\n" at i (a single newline between non-whitespace characters). */
function isCut(text: string, i: number): boolean {
  return (
    i >= 1 && i + 1 < text.length && text.charCodeAt(i) === 10 && NON_WS.test(text[i - 1]!) && NON_WS.test(text[i + 1]!)
  );
}

/** The next piece's end after `start`: just after the first cut at or past start + size, else the text's end. */
function nextEnd(text: string, start: number, size: number): number {
  for (let i = text.indexOf('\n', start + size); i !== -1; i = text.indexOf('\n', i + 1))
    if (isCut(text, i)) return i + 1;
  return text.length;
}

/**
 * The ids of encoding `text` at once, computed piece by piece. A piece after the first is encoded behind the line
 * before it (its context), and its ids are what follows the context's own ids — which must be a prefix of the
 * encoding with the piece, or the cut is not a boundary this tokenizer keeps and the piece runs on to the next cut.
 * Context makes the pieces right where a piece alone would differ (a SentencePiece "Prepend ▁" normalizer marks
 * only the text's start; a byte-level pattern may glue punctuation to the newline after it).
 */
export async function encodeInPieces(
  text: string,
  encode: (s: string) => number[],
  vocabSize: number,
  onProgress?: (done: number, total: number) => void,
  pieceChars = PIECE_CHARS,
): Promise<Uint32Array> {
  const total = text.length;
  const parts: number[][] = [];
  const starts: number[] = [];
  let count = 0;
  /** The piece's ids behind its context, or null where the context's own ids change. */
  const piece = (start: number, end: number): number[] | null => {
    if (start === 0) return encode(text.slice(0, end));
    const ctx = text.slice(text.lastIndexOf('\n', start - 2) + 1, start);
    const own = encode(ctx);
    const both = encode(ctx + text.slice(start, end));
    return own.every((id, i) => both[i] === id) ? both.slice(own.length) : null;
  };
  for (let start = 0; start < total; ) {
    let end = nextEnd(text, start, pieceChars);
    let ids = piece(start, end);
    while (ids === null) {
      // This cut is not a boundary the tokenizer keeps: run on to the next cut, or at the text's end join the piece
      // before (the first piece needs no context, so this ends).
      if (end < total) end = nextEnd(text, end, pieceChars);
      else {
        start = starts.pop()!;
        count -= parts.pop()!.length;
      }
      ids = piece(start, end);
    }
    parts.push(ids);
    starts.push(start);
    count += ids.length;
    onProgress?.(end, total);
    start = end;
    if (start < total) await new Promise((r) => setTimeout(r, 0));
  }
  if (total === 0) onProgress?.(0, 0);
  const out = new Uint32Array(count);
  let k = 0;
  for (const ids of parts)
    for (const id of ids) {
      if (!(Number.isInteger(id) && id >= 0 && id < vocabSize))
        throw new TokenizerError(`the tokenizer produced id ${id}, outside its vocabulary of ${vocabSize}`);
      out[k++] = id;
    }
  return out;
}
