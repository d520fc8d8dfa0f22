// Fuzzed checkpoints: 12,000 mutations (fixed seed) of valid safetensors files — a GPT-2 checkpoint and a mixed-dtype
// file — through byte, length-prefix and header-JSON mutators. Each case must end in a correct load or a
// SafetensorsError / CheckpointError (never another exception), within a time bound, never asking the source for
// bytes outside the file, and never producing a tensor larger than its bytes in the file allow.

import { gpt2Config } from '../../src/model/gpt2/config';
import { describe, expect, it } from 'vitest';
import { CheckpointError, exportCheckpoint, openCheckpoint } from '../../src/model/checkpoint';
import { bytesSource, openSafetensors, SafetensorsError, type ByteSource } from '../../src/io/safetensors';
import { gpt2Init } from '../../src/model/gpt2/params';
import { Rng } from '../../src/util/rng';

const CASES = 12_000;
const MAX_MS_PER_CASE = 250;

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** A file from header JSON text and a data section (length prefix computed, or forced). */
function build(headerText: string, data: Uint8Array, prefix?: bigint): Uint8Array {
  const h = new TextEncoder().encode(headerText);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, prefix ?? BigInt(h.byteLength), true);
  return concat([len, h, data]);
}

function split(file: Uint8Array): { header: string; data: Uint8Array } {
  const n = Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
  return { header: new TextDecoder().decode(file.subarray(8, 8 + n)), data: file.subarray(8 + n) };
}

/** A tiny GPT-2 checkpoint (vocab 16, 1 block of width 8) as our exporter writes it. */
function gpt2Seed(): Uint8Array {
  const config = gpt2Config({ vocabSize: 16, positions: 4, width: 8, layers: 1, heads: 2 });
  return concat(exportCheckpoint(config, gpt2Init(config, 1)).safetensors);
}

/** F32, F16, BF16 and an unreadable I64 tensor, with metadata. */
function mixedSeed(): Uint8Array {
  const data = new Uint8Array(16 + 8 + 8 + 16);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) & 0xff;
  const header = JSON.stringify({
    __metadata__: { format: 'pt' },
    a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
    b: { dtype: 'F16', shape: [4], data_offsets: [16, 24] },
    c: { dtype: 'BF16', shape: [2, 2], data_offsets: [24, 32] },
    d: { dtype: 'I64', shape: [2], data_offsets: [32, 48] },
  });
  return build(header, data);
}

const DTYPES = ['F32', 'F16', 'BF16', 'I64', 'U8', 'F64', 'F4', 'Q4_0', 'f32', '', 'BOOL'];
const WEIRD_NUMBERS = [0, -1, 1, 2, 3, 7, 8, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e300, 0.5, -0];
const LLAMA = [
  'model.layers.0.self_attn.q_proj.weight',
  'model.embed_tokens.weight',
  'lm_head.weight',
  'transformer.wte.weight',
  'h.0.attn.bias',
];

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!;
}

function weirdValue(rng: Rng): unknown {
  switch (rng.int(8)) {
    case 0:
      return pick(rng, WEIRD_NUMBERS);
    case 1:
      return 'x';
    case 2:
      return null;
    case 3:
      return [];
    case 4:
      return {};
    case 5:
      return [pick(rng, WEIRD_NUMBERS), pick(rng, WEIRD_NUMBERS)];
    case 6:
      return true;
    default:
      return rng.int(100);
  }
}

/** One structural mutation of the header JSON (re-serialised); returns the new text. */
function mutateJson(text: string, rng: Rng): string {
  const h = JSON.parse(text) as Record<string, Record<string, unknown>>;
  const names = Object.keys(h).filter((k) => k !== '__metadata__');
  const name = pick(rng, names);
  const e = h[name]!;
  switch (rng.int(12)) {
    case 0:
      e.dtype = pick(rng, DTYPES);
      break;
    case 1:
      e.shape = (e.shape as number[]).map((d) => (rng.next() < 0.5 ? pick(rng, WEIRD_NUMBERS) : d));
      break;
    case 2:
      e.shape = [...(e.shape as number[]), pick(rng, WEIRD_NUMBERS)];
      break;
    case 3: {
      const [a, b] = e.data_offsets as number[];
      e.data_offsets = rng.next() < 0.3 ? [b, a] : [a! + rng.int(9) - 4, b! + rng.int(9) - 4];
      break;
    }
    case 4:
      e.data_offsets = [pick(rng, WEIRD_NUMBERS), pick(rng, WEIRD_NUMBERS)];
      break;
    case 5:
      delete e[pick(rng, ['dtype', 'shape', 'data_offsets'])];
      break;
    case 6:
      e[pick(rng, ['dtype', 'shape', 'data_offsets'])] = weirdValue(rng);
      break;
    case 7:
      h[pick(rng, LLAMA)] = { ...e };
      delete h[name];
      break; // renamed: not GPT-2, or a second name
    case 8:
      h.__metadata__ = pick(rng, [{ format: 1 }, [], 'pt', null, { a: 'b' }]) as never;
      break;
    case 9:
      h[name] = weirdValue(rng) as never;
      break;
    case 10: {
      // A duplicate key, which JSON.parse would silently collapse.
      const s = JSON.stringify(h);
      const entry = JSON.stringify(e);
      return s.replace('{', `{${JSON.stringify(name)}:${entry},`);
    }
    default:
      delete h[name];
      break;
  }
  return JSON.stringify(h);
}

/** One mutated file from a seed. */
function mutate(seed: Uint8Array, rng: Rng): { bytes: Uint8Array; kind: string } {
  const { header, data } = split(seed);
  const kind = rng.int(9);
  switch (kind) {
    case 0:
      return { kind: 'truncate', bytes: seed.slice(0, rng.int(seed.length)) };
    case 1: {
      // random byte flips anywhere
      const b = seed.slice();
      for (let i = 0, n = 1 + rng.int(4); i < n; i++) b[rng.int(b.length)] = rng.int(256);
      return { kind: 'flip', bytes: b };
    }
    case 2: {
      // flips inside the header JSON only (incl. non-UTF-8 bytes)
      const b = seed.slice();
      const n = Number(new DataView(b.buffer).getBigUint64(0, true));
      for (let i = 0, m = 1 + rng.int(3); i < m; i++)
        b[8 + rng.int(n)] = pick(rng, [0xff, 0xc3, 0x80, 0x00, 0x22, 0x7b, 0x7d, 0x5c, 0x20, rng.int(256)]);
      return { kind: 'header-bytes', bytes: b };
    }
    case 3: {
      // the length prefix
      const opts = [
        0n,
        1n,
        7n,
        BigInt(header.length - 1),
        BigInt(header.length + 1),
        BigInt(seed.length),
        100_000_001n,
        2n ** 63n,
        2n ** 64n - 1n,
        BigInt(rng.int(2 ** 30)),
      ];
      return { kind: 'prefix', bytes: build(header, data, pick(rng, opts)) };
    }
    case 4:
    case 5:
    case 6:
      return { kind: 'json', bytes: build(mutateJson(header, rng), data) };
    case 7: {
      // data section grown or shrunk
      const d =
        rng.next() < 0.5
          ? data.slice(0, Math.max(0, data.length - 1 - rng.int(8)))
          : concat([data, new Uint8Array(1 + rng.int(8))]);
      return { kind: 'data-length', bytes: build(header, d) };
    }
    default: {
      // random bytes inserted into the header
      const b = new TextEncoder().encode(header);
      const at = rng.int(b.length);
      const junk = Uint8Array.from({ length: 1 + rng.int(4) }, () => rng.int(256));
      return {
        kind: 'insert',
        bytes: build(new TextDecoder().decode(concat([b.subarray(0, at), junk, b.subarray(at)])), data),
      };
    }
  }
}

/** A source that records any read outside the file (and never returns such bytes). */
function guarded(bytes: Uint8Array, bad: string[]): ByteSource {
  const inner = bytesSource(bytes);
  return {
    size: inner.size,
    read: (offset, length) => {
      if (
        offset < 0 ||
        length < 0 ||
        offset + length > bytes.byteLength ||
        !Number.isSafeInteger(offset) ||
        !Number.isSafeInteger(length)
      ) {
        bad.push(`read(${offset}, ${length}) of a ${bytes.byteLength}-byte file`);
      }
      return inner.read(offset, length);
    },
  };
}

const ELEM_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

describe('safetensors fuzz', () => {
  it(`${CASES} mutated files: a correct load or a specific error, every time`, async () => {
    const rng = new Rng(20261123);
    const seeds = [gpt2Seed(), mixedSeed()];
    const outcomes = new Map<string, number>();
    const problems: string[] = [];
    let slowest = 0;
    for (let i = 0; i < CASES; i++) {
      const seedIdx = i % 2;
      const { bytes, kind } = mutate(seeds[seedIdx]!, rng);
      const bad: string[] = [];
      const src = guarded(bytes, bad);
      const t0 = performance.now();
      let outcome: string;
      try {
        const file = await openSafetensors(src);
        for (const [name, info] of file.tensors) {
          if (!(info.dtype in ELEM_BYTES)) continue;
          const x = await file.readF32(name);
          const numel = info.shape.reduce((a, b) => a * b, 1);
          if (
            x.length !== numel ||
            numel * ELEM_BYTES[info.dtype]! !== info.end - info.begin ||
            info.end > bytes.length
          ) {
            problems.push(
              `case ${i} (${kind}): ${name} gave ${x.length} values for shape [${info.shape}] and bytes ${info.begin}…${info.end} of ${bytes.length}`,
            );
          }
        }
        if (seedIdx === 0) await openCheckpoint(src, { heads: 2 });
        outcome = 'loaded';
      } catch (e) {
        if (e instanceof SafetensorsError || e instanceof CheckpointError) {
          // Group messages by their stable head (numbers and quoted names removed).
          outcome = `${e.name}: ${e.message
            .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
            .replace(/\d+/g, 'N')
            .split(/;|\(|, found| but /)[0]!
            .trim()
            .slice(0, 90)}`;
          if (!e.message.trim()) problems.push(`case ${i} (${kind}): empty message`);
        } else {
          problems.push(`case ${i} (${kind}): ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
          outcome = 'OTHER';
        }
      }
      const ms = performance.now() - t0;
      slowest = Math.max(slowest, ms);
      if (ms > MAX_MS_PER_CASE) problems.push(`case ${i} (${kind}) took ${ms.toFixed(0)} ms`);
      for (const b of bad) problems.push(`case ${i} (${kind}): ${b}`);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    const table = [...outcomes]
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${String(n).padStart(6)}  ${k}`)
      .join('\n');
    console.log(`fuzz outcomes over ${CASES} cases (slowest ${slowest.toFixed(1)} ms):\n${table}`);
    expect(problems.slice(0, 20)).toEqual([]);
    expect(outcomes.get('loaded') ?? 0).toBeGreaterThan(100); // the mutators also make valid files
    expect([...outcomes.keys()].filter((k) => k.startsWith('SafetensorsError')).length).toBeGreaterThan(15);
    expect([...outcomes.keys()].some((k) => k.startsWith('CheckpointError'))).toBe(true);
  }, 300_000);
});
