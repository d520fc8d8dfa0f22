// The safetensors reader and writer (CPU only): round trips, the shared fixtures, exact F16/BF16 conversion, one
// hand-built malformed file per validation rule, and lazy reads (a sparse 1 GiB file of which one tensor is read).

import { mkdtemp, open, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileSource, writeParts } from '../../src/io/node-source';
import { blobSource, bytesSource, openSafetensors, SafetensorsError } from '../../src/io/safetensors';
import { writeSafetensors } from '../../src/io/safetensors-write';
import { f16ToF32Bits } from '../../src/util/half';

const FIXTURES = '/work/shared/fixtures';

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** A file by hand: `n` overrides the length prefix; the header is a JSON value, a string, or raw bytes. */
function rawFile(header: unknown, data: number | Uint8Array = 0, n?: bigint): Uint8Array {
  const bytes =
    header instanceof Uint8Array
      ? header
      : new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, n ?? BigInt(bytes.byteLength), true);
  return concat([prefix, bytes, typeof data === 'number' ? new Uint8Array(data) : data]);
}

const entry = (dtype: string, shape: number[], begin: number, end: number) => ({
  dtype,
  shape,
  data_offsets: [begin, end],
});

/** Asserts a SafetensorsError (never another type) whose message matches `re`; returns it for further checks. */
async function rejects(p: Promise<unknown>, re: RegExp): Promise<SafetensorsError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a rejection').toBeInstanceOf(SafetensorsError);
  const e = err as SafetensorsError;
  expect(e.name).toBe('SafetensorsError');
  expect(e.message).toMatch(re);
  return e;
}

const openBytes = (bytes: Uint8Array) => openSafetensors(bytesSource(bytes), 'test.safetensors');
const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('safetensors round trip', () => {
  const special = new Float32Array(
    new Uint32Array([0x7fc00001, 0xff800000, 0x7f800000, 0x80000000, 0x00000001, 0x807fffff, 0x3f800000, 0xc2f6e979])
      .buffer,
  );
  const tensors = [
    { name: 'b.second', shape: [2, 4], data: special },
    { name: 'a.first', shape: [3], data: new Float32Array([1.5, -2.25, 1e-30]) },
    { name: '10', shape: [], data: new Float32Array([42]) }, // integer-like name: a JS object would reorder it
    { name: 'empty', shape: [0], data: new Float32Array(0) },
    { name: 'big', shape: [7, 13], data: Float32Array.from({ length: 91 }, (_, i) => Math.sin(i) * 1e3) },
  ];

  const metadatas: (Record<string, string> | undefined)[] = [{ format: 'pt', note: 'ünïcode ✓' }, {}, undefined];
  for (const metadata of metadatas) {
    it(`keeps names, order, shapes, metadata and exact bits (metadata ${JSON.stringify(metadata)})`, async () => {
      const parts = writeSafetensors(tensors, metadata);
      const bytes = concat(parts);
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      expect((8 + n) % 8).toBe(0);
      const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + n));
      expect(headerText.includes('__metadata__')).toBe(metadata !== undefined);
      expect(headerText.trimEnd().endsWith('}')).toBe(true);

      const file = await openBytes(bytes);
      expect(file.metadata).toEqual(metadata ?? {});
      expect([...file.tensors.keys()]).toEqual(tensors.map((t) => t.name));
      for (const t of tensors) {
        const info = file.tensors.get(t.name)!;
        expect(info.dtype).toBe('F32');
        expect(info.shape).toEqual(t.shape);
        expect(info.end - info.begin).toBe(t.data.byteLength);
        expect(info.begin).toBeGreaterThanOrEqual(file.dataStart); // offsets are absolute
        expect(bitsOf(await file.readF32(t.name))).toEqual(bitsOf(t.data));
      }
    });
  }

  it('writes little-endian f32 bytes at the header-declared offsets', async () => {
    const bytes = concat(writeSafetensors([{ name: 'x', shape: [1], data: new Float32Array([1]) }]));
    const file = await openBytes(bytes);
    const { begin } = file.tensors.get('x')!;
    expect(Array.from(bytes.subarray(begin, begin + 4))).toEqual([0x00, 0x00, 0x80, 0x3f]);
    expect(begin % 8).toBe(0);
  });

  it('reads through blobSource (the browser path: parts concatenated as a Blob)', async () => {
    const file = await openSafetensors(blobSource(new Blob(writeSafetensors(tensors, { format: 'pt' }))));
    expect(bitsOf(await file.readF32('b.second'))).toEqual(bitsOf(special));
  });

  it('writes and reads a file of no tensors', async () => {
    const bytes = concat(writeSafetensors([]));
    expect(new TextDecoder().decode(bytes.subarray(8))).toBe('{}      ');
    const file = await openBytes(bytes);
    expect(file.tensors.size).toBe(0);
    expect(file.metadata).toEqual({});
  });

  it('writes through writeParts atomically and reads back with fileSource', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'st-write-'));
    try {
      const path = join(dir, 'model.safetensors');
      await writeParts(path, writeSafetensors(tensors, { format: 'pt' }));
      expect(await readdir(dir)).toEqual(['model.safetensors']);
      const src = await fileSource(path);
      try {
        const file = await openSafetensors(src, path);
        expect(bitsOf(await file.readF32('big'))).toEqual(bitsOf(tensors[4].data));
      } finally {
        await src.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses duplicate names, shape/data mismatches and the reserved name', () => {
    const one = new Float32Array(1);
    const err = (f: () => unknown, re: RegExp) => {
      expect(f).toThrow(SafetensorsError);
      expect(f).toThrow(re);
    };
    err(
      () =>
        writeSafetensors([
          { name: 'a', shape: [1], data: one },
          { name: 'a', shape: [1], data: one },
        ]),
      /duplicate tensor name "a"/,
    );
    err(
      () => writeSafetensors([{ name: 'a', shape: [2, 3], data: one }]),
      /tensor "a": shape \[2,3\] has 6 elements but data has 1/,
    );
    err(
      () => writeSafetensors([{ name: 'a', shape: [-1], data: one }]),
      /tensor "a": shape must be non-negative integers/,
    );
    err(() => writeSafetensors([{ name: '__metadata__', shape: [1], data: one }]), /"__metadata__" is reserved/);
  });
});

describe('safetensors fixtures (read through fileSource)', () => {
  async function withFile<T>(
    path: string,
    f: (file: Awaited<ReturnType<typeof openSafetensors>>) => Promise<T>,
  ): Promise<T> {
    const src = await fileSource(path);
    try {
      return await f(await openSafetensors(src, path));
    } finally {
      await src.close();
    }
  }

  it('tiny-2L (F32) and tiny-2L-bf16 agree on wte to bf16 precision', async () => {
    const name = 'transformer.wte.weight';
    const f32 = await withFile(`${FIXTURES}/tiny-2L/model.safetensors`, async (file) => {
      expect(file.metadata).toEqual({ format: 'pt' });
      expect(file.tensors.get(name)).toMatchObject({ dtype: 'F32', shape: [50257, 32] });
      expect([...file.tensors.keys()].every((k) => k.startsWith('transformer.'))).toBe(true);
      return file.readF32(name);
    });
    const bf16 = await withFile(`${FIXTURES}/tiny-2L-bf16/model.safetensors`, async (file) => {
      expect(file.tensors.get(name)).toMatchObject({ dtype: 'BF16', shape: [50257, 32] });
      return file.readF32(name);
    });
    expect(bf16.length).toBe(f32.length);
    let worst = 0;
    for (let i = 0; i < f32.length; i++)
      worst = Math.max(worst, Math.abs(f32[i] - bf16[i]) / Math.max(Math.abs(f32[i]), 1e-30));
    expect(worst).toBeLessThanOrEqual(2 ** -8);
    expect(worst).toBeGreaterThan(0); // it really was rounded, so the BF16 path was exercised
  });

  it('ref-8L (hub layout) opens and lists its attn.bias mask buffers', async () => {
    await withFile(`${FIXTURES}/ref-8L/model.safetensors`, async (file) => {
      const masks = [...file.tensors.keys()].filter((k) => /^h\.\d+\.attn\.bias$/.test(k));
      expect(masks).toHaveLength(8);
      for (const k of masks) expect(file.tensors.get(k)).toMatchObject({ dtype: 'F32', shape: [1, 1, 256, 256] });
      expect(file.tensors.has('wte.weight')).toBe(true);
      const mask = await file.readF32('h.3.attn.bias');
      expect(mask[0]).toBe(1);
      expect(mask[1]).toBe(0); // lower-triangular: row 0 sees only column 0
      expect(mask[256 * 256 - 1]).toBe(1);
    });
  });
});

describe('safetensors F16 and BF16 conversion', () => {
  it('converts hand-picked halves exactly (incl. subnormal, inf, NaN)', async () => {
    const halves = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x7c00, 0xfc00, 0x7e00, 0x0000, 0x8000, 0x3555];
    const want = [1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, Infinity, -Infinity, NaN, 0, -0, 0.333251953125];
    const data = new Uint8Array(new Uint16Array(halves).buffer);
    const file = await openBytes(rawFile({ h: entry('F16', [halves.length], 0, data.byteLength) }, data));
    const got = Array.from(await file.readF32('h'));
    expect(got).toEqual(want); // toEqual distinguishes -0 from 0 and matches NaN with NaN
  });

  it('converts all 65536 halves exactly against a formula reference', () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const exp = (h >> 10) & 0x1f;
      const mant = h & 0x3ff;
      u[0] = f16ToF32Bits(h);
      if (exp === 0x1f && mant !== 0) expect(Number.isNaN(f[0])).toBe(true);
      else {
        const v = exp === 0x1f ? Infinity : exp === 0 ? mant * 2 ** -24 : (1 + mant / 1024) * 2 ** (exp - 15);
        if (f[0] !== sign * v || Object.is(f[0], -0) !== (sign < 0 && v === 0))
          expect.fail(`half 0x${h.toString(16)}: got ${f[0]}, want ${sign * v}`);
      }
    }
  });

  it('BF16 is the upper 16 bits of the f32', async () => {
    const halves = [0x3f80, 0xc000, 0x7f80, 0xff80, 0x7fc0, 0x0001, 0x8000];
    const data = new Uint8Array(new Uint16Array(halves).buffer);
    const file = await openBytes(rawFile({ b: entry('BF16', [halves.length], 0, data.byteLength) }, data));
    expect(bitsOf(await file.readF32('b'))).toEqual(halves.map((h) => h * 65536));
  });
});

describe('safetensors validation (each failure names what and where)', () => {
  const ok = { a: entry('F32', [2], 0, 8) };

  it('rejects a file shorter than 8 bytes', async () => {
    await rejects(
      openBytes(new Uint8Array(5)),
      /^test\.safetensors: file is 5 bytes, shorter than the 8-byte header length prefix/,
    );
  });

  it('rejects a header length over 100,000,000 (before allocating it)', async () => {
    await rejects(openBytes(rawFile(ok, 8, 100_000_001n)), /header length 100000001 exceeds the 100000000-byte limit/);
    await rejects(openBytes(rawFile(ok, 8, 0xffff_ffff_ffff_ffffn)), /header length 18446744073709551615 exceeds/);
  });

  it('rejects a header length past the end of the file', async () => {
    await rejects(openBytes(rawFile(ok, 0, 1000n)), /header length 1000 needs 1008 bytes but the file has only \d+/);
  });

  it('rejects a header that is not UTF-8', async () => {
    await rejects(openBytes(rawFile(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))), /header is not valid UTF-8/);
  });

  it('rejects a header that is not JSON', async () => {
    await rejects(openBytes(rawFile('{"a": }')), /header is not valid JSON/);
    await rejects(openBytes(rawFile('{"a": 1}\0\0\0\0')), /header is not valid JSON/); // NUL padding is not JSON whitespace
  });

  it('rejects JSON that is not an object (and a leading BOM)', async () => {
    await rejects(openBytes(rawFile('[1, 2]')), /header must be a JSON object starting with '\{', found "\[1, 2\]"/);
    await rejects(openBytes(rawFile('"x"')), /header must be a JSON object/);
    await rejects(openBytes(rawFile('\uFEFF{}')), /header must be a JSON object starting with '\{'/);
  });

  it('accepts space padding after the JSON', async () => {
    const file = await openBytes(rawFile(`${JSON.stringify(ok)}      `, 8));
    expect([...file.tensors.keys()]).toEqual(['a']);
  });

  it('rejects duplicate tensor names, also when spelled with escapes, and duplicate keys inside entries', async () => {
    const e1 = await rejects(
      openBytes(
        rawFile(
          '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
          8,
        ),
      ),
      /duplicate tensor name "a" in header/,
    );
    expect(e1.tensor).toBe('a');
    await rejects(
      openBytes(
        rawFile(
          '{"ab":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"\\u0061b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
          8,
        ),
      ),
      /duplicate tensor name "ab"/,
    );
    await rejects(
      openBytes(rawFile('{"x":{"dtype":"F16","dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4)),
      /duplicate key "dtype" in the header entry of tensor "x"/,
    );
    await rejects(openBytes(rawFile('{"__metadata__":{"k":"1","k":"2"}}')), /duplicate key "k" in __metadata__/);
    // Keys inside string values (with escaped quotes) are not keys.
    const file = await openBytes(
      rawFile(
        '{"__metadata__":{"k":"\\"a\\": {\\"a\\":","j":"a"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
        4,
      ),
    );
    expect(file.metadata).toEqual({ k: '"a": {"a":', j: 'a' });
  });

  it('rejects __metadata__ that is not a string→string map', async () => {
    await rejects(
      openBytes(rawFile({ __metadata__: { k: 1 } })),
      /__metadata__\["k"\] must be a string, found number 1/,
    );
    await rejects(
      openBytes(rawFile({ __metadata__: 'x' })),
      /__metadata__ must be an object of string values, found string "x"/,
    );
    await rejects(
      openBytes(rawFile({ __metadata__: ['x'] })),
      /__metadata__ must be an object of string values, found an array/,
    );
  });

  it('rejects an entry that is not an object', async () => {
    const e = await rejects(
      openBytes(rawFile({ w: [1, 2] })),
      /tensor "w": header entry must be an object, found an array/,
    );
    expect(e.tensor).toBe('w');
    await rejects(openBytes(rawFile({ w: null })), /tensor "w": header entry must be an object, found null/);
  });

  it('rejects an entry lacking dtype, shape or data_offsets', async () => {
    await rejects(
      openBytes(rawFile({ w: { shape: [1], data_offsets: [0, 4] } }, 4)),
      /tensor "w": header entry lacks "dtype"/,
    );
    await rejects(
      openBytes(rawFile({ w: { dtype: 'F32', data_offsets: [0, 4] } }, 4)),
      /tensor "w": header entry lacks "shape"/,
    );
    await rejects(
      openBytes(rawFile({ w: { dtype: 'F32', shape: [1] } }, 4)),
      /tensor "w": header entry lacks "data_offsets"/,
    );
  });

  it('rejects wrongly typed fields', async () => {
    await rejects(
      openBytes(rawFile({ w: { dtype: 5, shape: [1], data_offsets: [0, 4] } }, 4)),
      /tensor "w": dtype must be a string, found number 5/,
    );
    for (const shape of [[-1], [1.5], '3', [2 ** 53], [null]]) {
      await rejects(
        openBytes(rawFile({ w: { dtype: 'F32', shape, data_offsets: [0, 4] } }, 4)),
        /tensor "w": shape must be an array of non-negative integers, found /,
      );
    }
    for (const offs of [[0], [0, '4'], [0, 4, 8], [-4, 0], { begin: 0 }, [0, 2 ** 53]]) {
      await rejects(
        openBytes(rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: offs } }, 4)),
        /tensor "w": data_offsets must be \[begin, end\] of non-negative integers, found /,
      );
    }
    await rejects(
      openBytes(rawFile({ w: entry('F32', [1], 8, 4) }, 8)),
      /tensor "w": data_offsets begin 8 is after end 4/,
    );
  });

  it('rejects an unknown dtype by name', async () => {
    await rejects(
      openBytes(rawFile({ w: entry('Q8_K', [1], 0, 1) }, 1)),
      /tensor "w": unknown dtype "Q8_K" \(known: BOOL, /,
    );
    await rejects(openBytes(rawFile({ w: entry('toString', [1], 0, 1) }, 1)), /unknown dtype "toString"/);
  });

  it('rejects a byte size that disagrees with shape × dtype, and overflowing shapes', async () => {
    await rejects(
      openBytes(rawFile({ w: entry('F32', [2, 3], 0, 16) }, 16)),
      /tensor "w": F32 shape \[2,3\] is 24 bytes but data_offsets \[0, 16\] span 16/,
    );
    await rejects(
      openBytes(rawFile({ w: entry('F32', [2 ** 40, 2 ** 40], 0, 16) }, 16)),
      /tensor "w": F32 shape \[1099511627776,1099511627776\] overflows/,
    );
    await rejects(
      openBytes(rawFile({ w: entry('F4', [3], 0, 1) }, 1)),
      /tensor "w": F4 shape \[3\] is 12 bits, not a whole number of bytes/,
    );
  });

  it('rejects offsets that do not tile the data section: gap before, gap between, overlap', async () => {
    await rejects(
      openBytes(rawFile({ a: entry('F32', [1], 4, 8) }, 8)),
      /tensor "a" begins at data offset 4 but the data section starts at 0/,
    );
    await rejects(
      openBytes(rawFile({ b: entry('F32', [1], 8, 12), a: entry('F32', [1], 0, 4) }, 12)),
      /gap of 4 bytes between tensor "a" \(ends at data offset 4\) and tensor "b" \(begins at 8\)/,
    );
    const e = await rejects(
      openBytes(rawFile({ a: entry('F32', [2], 0, 8), b: entry('F32', [2], 4, 12) }, 12)),
      /tensors "a" \[0, 8\) and "b" \[4, 12\) overlap/,
    );
    expect(e.tensor).toBe('b');
  });

  it('requires the data section to end exactly at the end of the file', async () => {
    await rejects(
      openBytes(rawFile(ok, 12)),
      /trailing bytes: the tensors cover 8 data bytes but 12 follow the header \(4 extra\)/,
    );
    await rejects(openBytes(rawFile({}, 3)), /trailing bytes: the tensors cover 0 data bytes but 3 follow the header/);
    await rejects(
      openBytes(rawFile(ok, 6)),
      /file too short: tensor "a" ends at data offset 8 but only 6 data bytes follow the header/,
    );
  });

  it('opens files with unconvertible dtypes, failing only when such a tensor is read', async () => {
    const data = new Uint8Array(16 + 4);
    const file = await openBytes(rawFile({ steps: entry('I64', [2], 0, 16), w: entry('F32', [1], 16, 20) }, data));
    expect(file.tensors.get('steps')).toMatchObject({ dtype: 'I64', shape: [2] });
    expect(Array.from(await file.readF32('w'))).toEqual([0]);
    const e = await rejects(
      file.readF32('steps'),
      /tensor "steps" has dtype I64, which readF32 cannot convert \(only F32, F16, BF16\)/,
    );
    expect(e.tensor).toBe('steps');
  });

  it('names a few available tensors when asked for an unknown one', async () => {
    const header = Object.fromEntries(
      Array.from({ length: 7 }, (_, i) => [`t${i}`, entry('F32', [1], 4 * i, 4 * i + 4)]),
    );
    const file = await openBytes(rawFile(header, 28));
    await rejects(
      file.readF32('nope'),
      /no tensor named "nope"; available: "t0", "t1", "t2", "t3", "t4", … \(7 in all\)/,
    );
  });

  it('reports a source that returns fewer bytes than asked', async () => {
    const bytes = rawFile(ok, 8);
    const shrinking = {
      size: bytes.byteLength,
      read: async (o: number, l: number) => bytes.subarray(o, Math.min(o + l, bytes.byteLength - 1)),
    };
    const file = await openSafetensors(shrinking);
    await rejects(file.readF32('a'), /short read: asked for 8 bytes at offset \d+, got 7/);
  });
});

describe('safetensors lazy reads', () => {
  it('reads only the header and the one tensor asked for from a sparse 1 GiB file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'st-lazy-'));
    const path = join(dir, 'big.safetensors');
    try {
      const MiB64 = 64 * 1024 * 1024;
      const header = Object.fromEntries(
        Array.from({ length: 16 }, (_, i) => [`t${i}`, entry('F32', [MiB64 / 4], i * MiB64, (i + 1) * MiB64)]),
      );
      const prefixAndHeader = rawFile(header);
      await writeFile(path, prefixAndHeader);
      await truncate(path, prefixAndHeader.byteLength + 16 * MiB64); // sparse: no real disk, no write time
      const src = await fileSource(path);
      try {
        const file = await openSafetensors(src, path);
        expect(src.bytesRead).toBe(prefixAndHeader.byteLength);
        const t = await file.readF32('t7');
        expect(t.length).toBe(MiB64 / 4);
        expect(t[0]).toBe(0);
        expect(t[t.length - 1]).toBe(0);
        expect(src.bytesRead).toBeLessThanOrEqual(prefixAndHeader.byteLength + MiB64 + 4096);
      } finally {
        await src.close();
      }
      // The file handle is released: the file can be reopened and removed.
      await (await open(path, 'r')).close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
