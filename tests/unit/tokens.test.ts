// Tokens (CPU only): GPT-2 BPE ids, pieced encoding == whole-text encoding, the train/val split, validation windows,
// random batches, and the tie between our token stream and the PyTorch fixtures' (tinyshakespeare, ref-8L, tiny-2L).

import { readFileSync } from 'node:fs';
import { Tiktoken } from 'js-tiktoken/lite';
import gpt2 from 'js-tiktoken/ranks/gpt2';
import { describe, expect, it } from 'vitest';
import { maxWindows, sampleBatch, splitTokens, validationWindows } from '../../src/io/corpus';
import { decodeGpt2, encodeGpt2, GPT2_EOT, pieceEnd } from '../../src/io/tokenizer';
import { Rng } from '../../src/util/rng';

const shared = (p: string) => new URL(`../../../shared/${p}`, import.meta.url);
const shakespeare = readFileSync(shared('data/tinyshakespeare.txt'), 'utf8');
const readJson = (p: string) => JSON.parse(readFileSync(shared(p), 'utf8')) as Record<string, unknown>;

// The independent oracle: js-tiktoken on the whole text in one call, special tokens treated as text.
const oracle = new Tiktoken(gpt2);
const whole = (text: string) => oracle.encode(text, [], []);

async function pieced(text: string, pieceChars: number) {
  const calls: [number, number][] = [];
  const ids = await encodeGpt2(text, (d, t) => calls.push([d, t]), { pieceChars });
  return { ids: Array.from(ids), calls };
}

function expectProgress(calls: [number, number][], total: number) {
  expect(calls.length).toBeGreaterThan(0);
  for (let i = 1; i < calls.length; i++) expect(calls[i]![0]).toBeGreaterThanOrEqual(calls[i - 1]![0]);
  for (const [, t] of calls) expect(t).toBe(total);
  expect(calls[calls.length - 1]).toEqual([total, total]);
}

/** First index where a and b differ (-1 when equal), for messages that say where streams part. */
function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

const adversarial: Record<string, string> = {
  newlineRuns: 'a\n\nb\n\n\nc\nd\n\n\n\ne\nf'.repeat(12),
  spacesBeforeNewlines: 'to be \nor not  \n to\tbe\n\t that\n \nis'.repeat(12),
  crlf: 'First Citizen:\r\nBefore we proceed\r\n\r\nany further\r\nhear me\r\n'.repeat(12),
  unicode: 'héllo\nwörld\n日本語のテキスト\n😀🎭\nb\u00a0\nc\n\u2028d\ne\u3000\nf\nΩ≈ç√\n'.repeat(12),
  noCutAtAll: `${'word '.repeat(30)}\n\n \n\t\n`.repeat(20),
  onlyNewlines: `${'\n'.repeat(500)}a\n${'\n'.repeat(500)}`,
  edgesAndContractions: `${"\nit's\n's\n'll\nthey've\n123\n4.5\n<|endoftext|>\n<|endoftext|>x\n".repeat(12)}end\n`,
};

describe('GPT-2 tokenizer', () => {
  it('encodes known strings to known ids', async () => {
    expect(Array.from(await encodeGpt2('Hello world'))).toEqual([15496, 995]);
    expect(Array.from(await encodeGpt2(' the'))).toEqual([262]);
    // Why pieces may not end in "\n\n": before a letter the pair is two tokens, at the end of a text one.
    expect(Array.from(await encodeGpt2('a\n\nb'))).toEqual([64, 198, 198, 65]);
    expect(Array.from(await encodeGpt2('a\n\n'))).toEqual([64, 628]);
    expect(Array.from(await encodeGpt2('a\nb'))).toEqual([64, 198, 65]);
  });

  it('treats "<|endoftext|>" in user text as plain text, never the special id', async () => {
    const ids = Array.from(await encodeGpt2('hi<|endoftext|>there'));
    expect(ids).not.toContain(GPT2_EOT);
    expect(Array.from(await encodeGpt2('<|endoftext|>'))).toEqual([27, 91, 437, 1659, 5239, 91, 29]);
    expect(decodeGpt2(ids)).toBe('hi<|endoftext|>there');
    // js-tiktoken's own default would throw here; ours must not depend on that default.
    expect(() => oracle.encode('<|endoftext|>')).toThrow();
    expect(decodeGpt2([GPT2_EOT])).toBe('<|endoftext|>');
  });

  it('round-trips decode(encode(x)) including unicode', async () => {
    for (const s of [
      'Hello world',
      '',
      ' leading and trailing ',
      'naïve café — “quotes”',
      '日本語 😀🎭 Ω≈ç√',
      'a\r\n\tb\n\n\n  c',
      ...Object.values(adversarial),
    ]) {
      expect(decodeGpt2(await encodeGpt2(s, undefined, { pieceChars: 64 }))).toBe(s);
    }
  });

  it('returns an empty array for empty text and still reports progress', async () => {
    const { ids, calls } = await pieced('', 16);
    expect(ids).toEqual([]);
    expect(calls).toEqual([[0, 0]]);
  });

  it('cuts pieces only after a single newline with non-whitespace on both sides', () => {
    const text = 'ab\ncd\n\nef \ngh\n ij\nk';
    const cuts: number[] = [];
    for (let s = 0; s < text.length; ) {
      s = pieceEnd(text, s, 3);
      cuts.push(s);
    }
    for (const c of cuts.slice(0, -1)) {
      expect(text[c - 1]).toBe('\n');
      expect(text[c - 2]).toMatch(/\S/u);
      expect(text[c]).toMatch(/\S/u);
    }
    expect(cuts).toEqual([3, 18, text.length]);
    // No valid cut anywhere: one piece, whatever the piece size.
    expect(pieceEnd('x\n\ny \nz', 0, 1)).toBe(7);
  });

  it('pieced == whole on adversarial strings', async () => {
    for (const [name, text] of Object.entries(adversarial)) {
      const ref = whole(text);
      for (const pc of [1, 7, 64, 1000]) {
        const { ids, calls } = await pieced(text, pc);
        expect(firstDiff(ids, ref), `${name} pieceChars ${pc}`).toBe(-1);
        expectProgress(calls, text.length);
      }
    }
  });

  it('pieced == whole on random whitespace-heavy strings (fuzz)', async () => {
    const alphabet = [
      'a',
      'b',
      's',
      ' ',
      ' ',
      '\n',
      '\n',
      '\n',
      '\r',
      '\t',
      "'",
      '1',
      '.',
      'é',
      '😀',
      '\u00a0',
      '<|endoftext|>',
    ];
    const rng = new Rng(1234);
    for (let trial = 0; trial < 200; trial++) {
      let text = '';
      const len = 1 + rng.int(120);
      for (let i = 0; i < len; i++) text += alphabet[rng.int(alphabet.length)];
      const pc = 1 + rng.int(12);
      const { ids } = await pieced(text, pc);
      expect(firstDiff(ids, whole(text)), JSON.stringify({ text, pc })).toBe(-1);
    }
  });

  it('pieced == whole on all of tinyshakespeare (many cuts), with monotonic progress', async () => {
    const ref = whole(shakespeare);
    const { ids, calls } = await pieced(shakespeare, 4096);
    expect(calls.length).toBeGreaterThan(200);
    expect(firstDiff(ids, ref)).toBe(-1);
    expectProgress(calls, shakespeare.length);

    const t0 = performance.now();
    const def = await encodeGpt2(shakespeare);
    const ms = performance.now() - t0;
    expect(firstDiff(def, ref)).toBe(-1);
    console.log(
      `tinyshakespeare: ${shakespeare.length} chars → ${def.length} GPT-2 tokens; encodeGpt2 (64 KiB pieces) ${ms.toFixed(0)} ms`,
    );
    // GPT-2 BPE of tinyshakespeare is ~338k tokens (nanoGPT's prepare.py: 301,966 train + 36,059 val).
    expect(def.length).toBe(338025);
  });
});

describe('corpus: split, validation windows, batches', () => {
  it('splits at floor(0.9·N) as views', () => {
    for (const [n, nTrain] of [
      [0, 0],
      [1, 0],
      [10, 9],
      [11, 9],
      [19, 17],
      [20, 18],
      [338025, 304222],
    ] as const) {
      const tokens = Uint32Array.from({ length: n }, (_, i) => i % 65536);
      const { train, val } = splitTokens(tokens);
      expect([train.length, val.length]).toEqual([nTrain, n - nTrain]);
      expect(train.buffer).toBe(tokens.buffer);
      expect(val.buffer).toBe(tokens.buffer);
      if (val.length) expect(val[0]).toBe(nTrain % 65536);
    }
    // The float product never lands below the exact integer quotient.
    let bad = -1;
    for (let n = 0; n <= 1_000_000 && bad < 0; n++) if (Math.floor(0.9 * n) !== (9 * n - ((9 * n) % 10)) / 10) bad = n;
    expect(bad).toBe(-1);
  });

  it('builds windows [i·ctx, i·ctx+ctx] and names the shortfall', () => {
    const val = Uint32Array.from({ length: 21 }, (_, i) => 100 + i);
    expect(maxWindows(21, 4)).toBe(5);
    expect(maxWindows(20, 4)).toBe(4);
    expect(maxWindows(4, 4)).toBe(0);
    expect(maxWindows(0, 4)).toBe(0);
    const w = validationWindows(val, 4, 5);
    expect(w.windows).toBe(5);
    expect(Array.from(w.inputs.subarray(4, 8))).toEqual([104, 105, 106, 107]);
    expect(Array.from(w.targets.subarray(4, 8))).toEqual([105, 106, 107, 108]);
    expect(w.targets[19]).toBe(120);
    expect(() => validationWindows(val.subarray(0, 20), 4, 5)).toThrow(
      /has 20 tokens: only 4 window\(s\) of ctx 4 fit.*ask for at most 4/,
    );
    expect(() => validationWindows(val.subarray(0, 4), 4, 1)).toThrow(
      'validation split has 4 tokens; one window of ctx 4 needs 5',
    );
    expect(() => validationWindows(val, 0, 1)).toThrow(/ctx must be a positive integer/);
    expect(() => validationWindows(val, 4, 0)).toThrow(/windows must be a positive integer/);
  });

  it('samples batches deterministically and within bounds', () => {
    const train = Uint32Array.from({ length: 1000 }, (_, i) => i);
    const a = sampleBatch(train, 8, 32, new Rng(7));
    const b = sampleBatch(train, 8, 32, new Rng(7));
    const c = sampleBatch(train, 8, 32, new Rng(8));
    expect(a).toEqual(b);
    expect(a.inputs).not.toEqual(c.inputs);
    for (let r = 0; r < 8; r++) {
      const o = a.inputs[r * 32]!;
      for (let t = 0; t < 32; t++) {
        expect(a.inputs[r * 32 + t]).toBe(o + t);
        expect(a.targets[r * 32 + t]).toBe(o + t + 1);
      }
    }
    // Continuing from a saved state gives the same next batch (checkpoint resume).
    const rng = new Rng(99);
    sampleBatch(train, 4, 16, rng);
    const resumed = new Rng(rng.state);
    expect(sampleBatch(train, 4, 16, rng)).toEqual(sampleBatch(train, 4, 16, resumed));

    // Offsets cover [0, len − T − 1] and nothing else.
    const small = Uint32Array.from({ length: 19 }, (_, i) => i);
    const seen = new Set<number>();
    const r2 = new Rng(3);
    for (let i = 0; i < 200; i++) {
      const { inputs, targets } = sampleBatch(small, 4, 16, r2);
      for (let k = 0; k < 4; k++) {
        seen.add(inputs[k * 16]!);
        expect(targets[k * 16 + 15]).toBeLessThanOrEqual(18);
      }
    }
    expect([...seen].sort()).toEqual([0, 1, 2]);
    expect(sampleBatch(small.subarray(0, 17), 2, 16, new Rng(1)).inputs[0]).toBe(0);
    expect(() => sampleBatch(small.subarray(0, 16), 2, 16, new Rng(1))).toThrow(
      'training split has 16 tokens; a sequence of T 16 needs 17',
    );
  });
});

describe('token stream vs the PyTorch fixtures', () => {
  const tokensP = encodeGpt2(shakespeare);

  it('ref-8L: 20 validation windows of ctx 128 exist in our split', async () => {
    const exp = readJson('fixtures/ref-8L/expected.json');
    expect([exp.ctx, exp.windows]).toEqual([128, 20]);
    const { val } = splitTokens(await tokensP);
    const w = validationWindows(val, exp.ctx as number, exp.windows as number);
    expect(w.inputs.length).toBe(20 * 128);
    console.log(`validation split: ${val.length} tokens, ${maxWindows(val.length, 128)} windows of ctx 128 fit`);
  });

  it.each(['tiny-2L', 'ref-8L'])(
    "%s: debug.json's batch lies in our validation stream, y = x shifted by one",
    async (fixture) => {
      const dbg = readJson(`fixtures/${fixture}/debug.json`) as { B: number; T: number; x: number[][]; y: number[][] };
      const tokens = await tokensP;
      const { train, val } = splitTokens(tokens);
      expect([dbg.x.length, dbg.x[0]!.length]).toEqual([dbg.B, dbg.T]);
      for (let b = 0; b < dbg.B; b++) {
        const x = dbg.x[b]!;
        const y = dbg.y[b]!;
        // Search val; on failure, say how far the best partial match got, so a tokenizer drift is located precisely.
        let found = -1;
        let best = { at: -1, len: 0 };
        for (let o = 0; o + x.length <= val.length && found < 0; o++) {
          let k = 0;
          while (k < x.length && val[o + k] === x[k]) k++;
          if (k === x.length) found = o;
          else if (k > best.len) best = { at: o, len: k };
        }
        expect(
          found,
          `x[${b}] not in val; longest prefix match ${best.len} tokens at val offset ${best.at}`,
        ).toBeGreaterThanOrEqual(0);
        console.log(`${fixture} debug x[${b}] found at val offset ${found} (stream offset ${train.length + found})`);
        expect(firstDiff(Array.from(val.subarray(found + 1, found + 1 + y.length)), y)).toBe(-1);
      }
    },
  );
});
