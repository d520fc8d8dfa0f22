// The downstream scores (README "Downstream scores"): what a token is to a word under GPT-2's BPE and under the
// llama-8L fixture's SentencePiece-style tokenizer, which run is a passage's last word, and on ref-8L the GPU scores
// against an f64 CPU forward of the same windows under the same definition.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hfTokenizer } from '../../src/io/hf-tokenizer';
import { splitTokens, validationWindows } from '../../src/io/corpus';
import { encodeGpt2, gpt2Bpe } from '../../src/io/tokenizer';
import { openCheckpoint } from '../../src/model/checkpoint';
import { Model } from '../../src/model/model';
import { fileSource } from '../../src/io/node-source';
import { gpt2BlocksRef } from '../../src/reference/gpt2';
import { matmulRef } from '../../src/reference/linalg';
import { layernormRef, tokenScoresRef } from '../../src/reference/nn';
import {
  downstreamFrom,
  downstreamScores,
  lastWordSpan,
  passagesOf,
  type WordClass,
  wordClasses,
} from '../../src/train/downstream';
import { getGpu } from './gpu';

const SHARED = join(__dirname, '../../../shared');
const TEXT = readFileSync(join(SHARED, 'data/tinyshakespeare.txt'), 'utf8');
const llamaTok = hfTokenizer({
  json: readFileSync(join(SHARED, 'fixtures/llama-8L/tokenizer.json'), 'utf8'),
  config: readFileSync(join(SHARED, 'fixtures/llama-8L/tokenizer_config.json'), 'utf8'),
});

/** The words a token stream's classes make, as text: a word starts at a `start`, or a `cont` after `space`. */
function wordsOf(ids: number[], cls: (id: number) => WordClass, decode: (ids: number[]) => string): string[] {
  const out: string[] = [];
  let cur: number[] = [];
  const end = () => {
    if (cur.length) out.push(decode(cur).trim());
    cur = [];
  };
  ids.forEach((id, i) => {
    const c = cls(id);
    const prev = i > 0 ? cls(ids[i - 1]!) : 'space';
    if (c === 'start' || (c === 'cont' && prev === 'space')) {
      end();
      cur = [id];
    } else if (c === 'cont') {
      if (cur.length) cur.push(id); // glued to punctuation: no word
    } else end();
  });
  end();
  return out;
}

describe('words from a tokenizer', () => {
  const sentence = "First Citizen:\nBefore we proceed any further, hear me speak.\nYou're all resolved";
  const words = [
    'First',
    'Citizen',
    'Before',
    'we',
    'proceed',
    'any',
    'further',
    'hear',
    'me',
    'speak',
    "You're",
    'all',
    'resolved',
  ];
  it("finds the same words under GPT-2's BPE and under a SentencePiece-style tokenizer (leading ▁, byte fallback)", async () => {
    for (const tok of [gpt2Bpe, llamaTok]) {
      const ids = Array.from(await tok.encode(sentence));
      expect(
        wordsOf(ids, wordClasses(tok), (x) => tok.decode(x)),
        tok.id,
      ).toEqual(words);
    }
  });

  it("takes a passage's last complete word with context before it", () => {
    const c = (s: string) => (id: number) => ({ S: 'start', C: 'cont', _: 'space', P: 'other' })[s[id]!]! as WordClass;
    const span = (s: string) =>
      lastWordSpan(
        Array.from(s, (_, i) => i),
        c(s),
      );
    expect(span('SCCSCP')).toEqual({ a: 3, b: 4 }); // "…word," : the word before the comma
    // The last run touches the passage's end (it may go on past it); the word before it starts at 0 (no context).
    expect(span('SCCSC')).toBeNull();
    expect(span('PSCSC')).toEqual({ a: 1, b: 2 });
    expect(span('SSCP')).toEqual({ a: 1, b: 2 });
    expect(span('P_CCP')).toEqual({ a: 2, b: 3 }); // a word after a newline has no leading space
    expect(span('PCCP')).toBeNull(); // glued to punctuation: no word start
    expect(span('SP')).toBeNull();
  });
});

it('scores a word whole only when each of its tokens is top-1, and sums its log-probabilities', () => {
  // Two passages of 5 tokens (ctx 4): ids 0–9; classes by id.
  const cls = (id: number): WordClass =>
    ['P', 'S', 'C', 'P', 'S'][id % 5] === 'S' ? 'start' : id % 5 === 2 ? 'cont' : 'other';
  const passages = [Uint32Array.from([0, 1, 2, 3, 4]), Uint32Array.from([5, 6, 7, 8, 9])];
  // Row j of a window predicts token j + 1: the word is tokens 1–2, rows 0–1.
  const logp = [-1, -2, -9, -9, -0.5, -0.25, -9, -9];
  const top1 = [1, 1, 0, 0, 1, 0, 1, 0];
  const s = downstreamFrom(passages, logp, top1, 4, cls);
  expect(s).toEqual({ top1: 4 / 8, passages: 2, lastWord: 1 / 2, lastWordLogp: (-3 + -0.75) / 2 });
});

describe('downstream scores on ref-8L (WebGPU vs f64 CPU)', () => {
  it('top-1 accuracy, last-word accuracy and log-probability equal the f64 forward’s', async () => {
    const gpu = await getGpu();
    const FIX = join(SHARED, 'fixtures/ref-8L');
    const ckpt = await openCheckpoint(await fileSource(join(FIX, 'model.safetensors')), {
      configJson: readFileSync(join(FIX, 'config.json'), 'utf8'),
    });
    const model = await Model.create(gpu, ckpt.config, (n) => ckpt.read(n));
    try {
      const [ctx, windows] = [16, 4];
      const { val } = splitTokens(await encodeGpt2(TEXT.slice(0, 60_000)));
      const cls = wordClasses(gpt2Bpe);
      const got = await downstreamScores(model, val, ctx, windows, cls, { batch: 3 });

      const host = new Map<string, Float64Array>();
      for (const name of model.params.keys()) host.set(name, Float64Array.from(await ckpt.read(name)));
      const { vocabSize: V, positions: P, width: C, layers: L, heads: H } = ckpt.config;
      const { inputs, targets } = validationWindows(val, ctx, windows);
      const N = windows * ctx;
      const { x } = gpt2BlocksRef(host, { V, P, C, L, H }, inputs, windows, ctx);
      const xf = layernormRef(x, host.get('ln_f.weight')!, host.get('ln_f.bias')!, N, C).y;
      const logits = matmulRef(xf, host.get('wte.weight')!, null, {
        M: N,
        N: V,
        K: C,
        batch: 1,
        transA: false,
        transB: true,
      });
      const ref = tokenScoresRef(logits, targets, N, V);
      const want = downstreamFrom(passagesOf(val, ctx, windows), ref.logp, ref.top1, ctx, cls);
      console.log(
        `ref-8L downstream, ${windows} windows of ${ctx}: GPU ${JSON.stringify(got)}; f64 ${JSON.stringify(want)}`,
      );
      expect(want.passages).toBe(windows); // every window has a last word here
      expect(got.passages).toBe(want.passages);
      expect(got.top1).toBe(want.top1);
      expect(got.lastWord).toBe(want.lastWord);
      expect(Math.abs(got.lastWordLogp! - want.lastWordLogp!)).toBeLessThan(1e-4);
      expect(got.top1).toBeGreaterThan(0);
    } finally {
      model.dispose();
    }
  }, 300_000);
});
