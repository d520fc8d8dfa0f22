// A reference's own tokenizer (DESIGN.md "Tokens"): encoding in pieces gives exactly the stream of encoding the whole
// text at once, on the fixture's SentencePiece-style tokenizer (a "Prepend ▁" normalizer and byte fallback: a piece
// encoded alone would differ at its start) and on byte-level BPE tokenizers (one with Qwen2's pattern, which glues
// punctuation to the newline after it; one whose merges span newlines, where cuts must be refused); decoding, ids,
// and the messages for bad files. CPU only.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as Lib } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { encodeInPieces, hfTokenizer } from '../../src/io/hf-tokenizer';
import { tokenizerOf } from '../../src/model/checkpoint';
import { llamaFromHf } from '../../src/model/llama';
import { byteLevelBpe } from './bpe-fixture';

const DIR = join(__dirname, '../../../shared/fixtures/llama-8L');
const TEXT = readFileSync(join(__dirname, '../../../shared/data/tinyshakespeare.txt'), 'utf8');
const files = {
  json: readFileSync(join(DIR, 'tokenizer.json'), 'utf8'),
  config: readFileSync(join(DIR, 'tokenizer_config.json'), 'utf8'),
};

const whole = (lib: Lib) => (s: string) => lib.encode(s, { add_special_tokens: false }).ids;
const same = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let firstDiff = -1;
  for (let i = 0; i < a.length && firstDiff < 0; i++) if (a[i] !== b[i]) firstDiff = i;
  expect(firstDiff, 'first differing position').toBe(-1);
};

describe('piecewise encoding equals whole-text encoding', () => {
  it("the fixture's SentencePiece-style tokenizer (first 150,000 characters; pieces of 4,096 and of 300)", async () => {
    const lib = new Lib(JSON.parse(files.json), JSON.parse(files.config));
    const text = TEXT.slice(0, 150_000);
    const want = whole(lib)(text);
    // Encoded alone, a piece would start with "▁" where the whole text has none: what context is for.
    const naive = whole(lib)(text.slice(text.indexOf('\nBefore') + 1, text.indexOf('\nBefore') + 20));
    expect(naive[0]).not.toBe(want[5]);
    const progress: number[] = [];
    same(await hfTokenizer(files).encode(text, (d) => progress.push(d)), want);
    expect(progress.at(-1)).toBe(text.length);
    expect(progress.length).toBeGreaterThan(10);
    same(
      await encodeInPieces(text.slice(0, 30_000), whole(lib), 32000, undefined, 300),
      whole(lib)(text.slice(0, 30_000)),
    );
  }, 120_000);

  it("a byte-level BPE with Qwen2's pattern, the whole corpus, pieces of 4,096 and of 200", async () => {
    const json = byteLevelBpe(TEXT.slice(0, 200_000), 400, 'qwen');
    const lib = new Lib(JSON.parse(json), {});
    const want = whole(lib)(TEXT);
    const tok = hfTokenizer({ json });
    same(await tok.encode(TEXT), want);
    same(
      await encodeInPieces(TEXT.slice(0, 50_000), whole(lib), tok.vocabSize, undefined, 200),
      whole(lib)(TEXT.slice(0, 50_000)),
    );
    expect(tok.decode(want.slice(0, 50))).toBe(TEXT.slice(0, tok.decode(want.slice(0, 50)).length));
  }, 120_000);

  it('a byte-level BPE whose merges span newlines: cuts that change the tokens are refused, the stream stays exact', async () => {
    const json = byteLevelBpe(TEXT.slice(0, 20_000), 300, 'none');
    // The merges learned across "\n" (Ċ) exist, so some cuts are not boundaries of this tokenizer.
    expect((JSON.parse(json).model.merges as string[]).some((m) => /Ċ\S|\SĊ|Ċ \S|\S Ċ/.test(m))).toBe(true);
    const lib = new Lib(JSON.parse(json), {});
    const text = TEXT.slice(0, 6_000);
    same(await encodeInPieces(text, whole(lib), 1 << 20, undefined, 50), whole(lib)(text));
  }, 120_000);
});

describe('the tokenizer as the engine sees it', () => {
  const tok = hfTokenizer(files);

  it("has the fixture's vocabulary, starts an empty prompt at <s>, and decodes what it encodes", async () => {
    expect(tok.vocabSize).toBe(32000);
    expect(tok.startToken).toBe(1);
    const text = 'First Citizen:\nBefore we proceed any further, hear me speak.';
    expect(tok.decode(await tok.encode(text))).toBe(text);
    // No special token is added, but one written in the corpus is that token, as transformers' tokenizer reads it
    // (a corpus may separate documents with it).
    expect(Array.from(await tok.encode('a <s> b'))).toEqual([264, 28705, 1, 28705, 287]);
    expect(Array.from(await tok.encode('a b'))).not.toContain(1);
    expect(tok.id).toMatch(/^hf:BPE:32000:[0-9a-f]{8}$/);
  });

  it('names what is wrong with bad tokenizer files', () => {
    expect(() => hfTokenizer({ json: '{' })).toThrow(/tokenizer\.json is not valid JSON/);
    expect(() => hfTokenizer({ json: '[]' })).toThrow(/tokenizer\.json is not a JSON object/);
    expect(() => hfTokenizer({ json: '{"model":{}}' })).toThrow(/no "model" with a "type"/);
    expect(() => hfTokenizer({ json: files.json, config: 'x' })).toThrow(/tokenizer_config\.json is not valid JSON/);
  });

  it('a Llama-family model without tokenizer.json, or with a tokenizer larger than its vocabulary, is refused', () => {
    const config = llamaFromHf(JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8')));
    expect(() => tokenizerOf(config)).toThrow(/without tokenizer\.json: give the reference folder's tokenizer\.json/);
    expect(() => tokenizerOf({ ...config, vocabSize: 1000 }, files)).toThrow(
      /tokenizer\.json has 32,000 tokens but the model's vocabulary only 1,000/,
    );
    expect(tokenizerOf(config, files).vocabSize).toBe(32000);
  });
});
