// A byte-level BPE tokenizer.json made here (GPT-2's byte-to-unicode alphabet, merges learned from a text), for
// tokenizer tests that need one beside the fixture's SentencePiece-style tokenizer: `split: 'qwen'` pre-tokenizes
// with Qwen2's pattern (which glues punctuation to the newlines after it), `split: 'none'` leaves the whole text one
// pre-token (so merges may span newlines, which piecewise encoding must detect).

/** GPT-2's map from bytes to printable characters (byte-level BPE's alphabet). */
function byteChars(): string[] {
  const out: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    out[b] = String.fromCodePoint(printable ? b : 256 + extra++);
  }
  return out;
}

const QWEN_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// The same pattern in JavaScript, for learning the merges (what the library does with it is the library's business).
const QWEN_JS =
  /'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

export function byteLevelBpe(text: string, merges: number, split: 'qwen' | 'none'): string {
  const alphabet = byteChars();
  const enc = new TextEncoder();
  const words = new Map<string, number>();
  for (const w of split === 'qwen' ? (text.match(QWEN_JS) ?? []) : [text]) words.set(w, (words.get(w) ?? 0) + 1);
  // Each pre-token as a list of symbols, with its count.
  const seqs = [...words].map(([w, n]) => ({ syms: Array.from(enc.encode(w), (b) => alphabet[b]!), n }));
  const vocab = new Map<string, number>(alphabet.map((c, i) => [c, i]));
  const mergeList: string[] = [];
  for (let m = 0; m < merges; m++) {
    const counts = new Map<string, number>();
    for (const { syms, n } of seqs)
      for (let i = 0; i + 1 < syms.length; i++) {
        const k = `${syms[i]} ${syms[i + 1]}`;
        counts.set(k, (counts.get(k) ?? 0) + n);
      }
    let best = '';
    let bestN = 1;
    for (const [k, n] of counts) if (n > bestN || (n === bestN && best && k < best)) [best, bestN] = [k, n];
    if (!best) break;
    const [a, b] = best.split(' ') as [string, string];
    mergeList.push(best);
    vocab.set(a + b, vocab.size);
    for (const s of seqs) {
      const out: string[] = [];
      for (let i = 0; i < s.syms.length; i++) {
        if (i + 1 < s.syms.length && s.syms[i] === a && s.syms[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(s.syms[i]!);
      }
      s.syms = out;
    }
  }
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      {
        id: vocab.size,
        content: '<|endoftext|>',
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      },
    ],
    normalizer: { type: 'NFC' },
    pre_tokenizer:
      split === 'qwen'
        ? {
            type: 'Sequence',
            pretokenizers: [
              { type: 'Split', pattern: { Regex: QWEN_PATTERN }, behavior: 'Isolated', invert: false },
              byteLevel,
            ],
          }
        : byteLevel,
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges: mergeList,
    },
  });
}
