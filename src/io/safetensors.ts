// The safetensors format: a validating reader with lazy per-tensor reads (the writer is safetensors-write.ts).
// Validation follows the Rust `safetensors` crate (the reference implementation) and is stricter where JSON.parse
// would silently accept an ambiguous file (duplicate keys). Browser-safe: no node: imports; Node file access lives
// in node-source.ts.
//
// Layout: 8 bytes little-endian u64 N, N bytes of UTF-8 JSON (may end in spaces), then the data section.
// Every failure is a SafetensorsError naming the tensor where there is one and what was expected vs found.

import { halvesToF32 } from '../util/half';

/** Random-access bytes: a Blob/File in the browser, a file handle in Node, an in-memory array in tests. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.byteLength,
    read: async (offset, length) => bytes.subarray(offset, offset + length),
  };
}

export function blobSource(blob: Blob): ByteSource {
  return {
    size: blob.size,
    read: async (offset, length) => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()),
  };
}

/** The dtypes readF32 converts. */
export type Dtype = 'F32' | 'F16' | 'BF16';

/** Bits per element of every dtype the reference knows, so a file with e.g. an I64 tensor still opens. */
const DTYPE_BITS: Record<string, number> = {
  BOOL: 8,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  F64: 64,
  I64: 64,
  U64: 64,
  C64: 64,
};
const READABLE: readonly string[] = ['F32', 'F16', 'BF16'] satisfies Dtype[];

/** The reference refuses larger headers; so do we, before allocating anything for one. */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor's header entry. `begin`/`end` are ABSOLUTE byte offsets in the file (data section start + data_offsets). */
export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export class SafetensorsError extends Error {
  constructor(
    message: string,
    readonly tensor?: string,
  ) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  /** In file order (the order of the keys in the header JSON). */
  tensors: Map<string, TensorInfo>;
  /** Absolute offset of the data section (8 + N). */
  readonly dataStart: number;
  /** Reads one tensor's bytes (only those) and converts to f32 (F32 copy, F16 and BF16 exact conversion). */
  readF32(name: string): Promise<Float32Array>;
}

export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export type Fail = (message: string, tensor?: string) => never;

export function failer(label: string | undefined): Fail {
  return (message, tensor) => {
    throw new SafetensorsError(label ? `${label}: ${message}` : message, tensor);
  };
}

/** Reads exactly `length` bytes; a source that returns fewer (file shrank since opening) is an error, not garbage. */
async function readExact(src: ByteSource, offset: number, length: number, fail: Fail): Promise<Uint8Array> {
  const bytes = await src.read(offset, length);
  if (bytes.byteLength !== length)
    fail(
      `short read: asked for ${length} bytes at offset ${offset}, got ${bytes.byteLength} (file changed after opening?)`,
    );
  return bytes;
}

export async function openSafetensors(src: ByteSource, label?: string): Promise<SafetensorsFile> {
  const fail: Fail = failer(label); // annotated so TS narrows after never-returning calls
  const size = src.size;
  if (size < 8) fail(`file is ${size} bytes, shorter than the 8-byte header length prefix`);
  const n64 = new DataView((await readExact(src, 0, 8, fail)).slice().buffer).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES))
    fail(`not a safetensors file, or a corrupt one: header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  if (8 + n > size) fail(`header length ${n} needs ${8 + n} bytes but the file has only ${size}`);

  const text = decodeHeader(await readExact(src, 8, n, fail), fail);
  const { header, order } = parseHeader(text, fail);
  const metadata = parseMetadata(header.__metadata__, fail);
  const dataStart = 8 + n;
  const tensors = new Map<string, TensorInfo>();
  for (const name of order) {
    if (name !== '__metadata__') tensors.set(name, parseEntry(name, header[name], dataStart, fail));
  }
  checkLayout([...tensors.values()], dataStart, size, fail);

  return {
    metadata,
    tensors,
    dataStart,
    readF32: async (name) => {
      const info = tensors.get(name);
      if (!info) fail(`no tensor named ${JSON.stringify(name)}; available: ${listNames([...tensors.keys()])}`, name);
      if (!READABLE.includes(info.dtype)) {
        fail(
          `tensor ${JSON.stringify(name)} has dtype ${info.dtype}, which readF32 cannot convert (only ${READABLE.join(', ')})`,
          name,
        );
      }
      const bytes = await readExact(src, info.begin, info.end - info.begin, fail);
      return toF32(bytes, info.dtype as Dtype);
    },
  };
}

function listNames(names: string[]): string {
  if (names.length === 0) return '(none)';
  const shown = names
    .slice(0, 5)
    .map((s) => JSON.stringify(s))
    .join(', ');
  return names.length > 5 ? `${shown}, … (${names.length} in all)` : shown;
}

function decodeHeader(bytes: Uint8Array, fail: Fail): string {
  try {
    // ignoreBOM keeps a leading BOM in the text, so it fails the '{' check as it does in the reference.
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return fail('header is not valid UTF-8');
  }
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseHeader(text: string, fail: Fail): { header: Record<string, unknown>; order: string[] } {
  if (text[0] !== '{') {
    fail(
      `header must be a JSON object starting with '{', found ${text.length ? JSON.stringify(text.slice(0, 10)) : 'nothing'}`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(header)) return fail(`header must be a JSON object, found ${describe(header)}`);
  return { header, order: scanKeys(text, fail) };
}

const isJsonSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * JSON.parse keeps the last of duplicate keys silently, so a file could say two things about one tensor; we refuse
 * it instead, at every depth. Runs only on text JSON.parse accepted, so tracking strings and brackets suffices.
 * Returns the top-level keys in file order (a JS object would move integer-like names such as "0" to the front).
 */
function scanKeys(text: string, fail: Fail): string[] {
  const frames: { keys: Set<string> | null; owner: string | undefined }[] = [];
  const top: string[] = [];
  let lastTop: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
      let j = i + 1;
      while (j < text.length && isJsonSpace(text.charCodeAt(j))) j++;
      const frame = frames[frames.length - 1];
      if (text.charCodeAt(j) !== 0x3a || !frame?.keys) continue;
      const key = JSON.parse(text.slice(start, i + 1)) as string;
      if (frame.keys.has(key)) failDuplicate(key, frames.length === 1 ? undefined : frame.owner, fail);
      frame.keys.add(key);
      if (frames.length === 1) {
        lastTop = key;
        top.push(key);
      }
    } else if (c === 0x7b || c === 0x5b) {
      const owner = frames.length === 1 ? lastTop : frames[frames.length - 1]?.owner;
      frames.push({ keys: c === 0x7b ? new Set() : null, owner });
    } else if (c === 0x7d || c === 0x5d) {
      frames.pop();
    }
  }
  return top;
}

function failDuplicate(key: string, owner: string | undefined, fail: Fail): never {
  const k = JSON.stringify(key);
  if (owner === undefined)
    return fail(
      key === '__metadata__' ? 'duplicate "__metadata__" in header' : `duplicate tensor name ${k} in header`,
      key,
    );
  if (owner === '__metadata__') return fail(`duplicate key ${k} in __metadata__`);
  return fail(`duplicate key ${k} in the header entry of tensor ${JSON.stringify(owner)}`, owner);
}

/** The reference reads `__metadata__` as Option<HashMap<String, String>>: absent or null means none. */
function parseMetadata(v: unknown, fail: Fail): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isPlainObject(v)) return fail(`__metadata__ must be an object of string values, found ${describe(v)}`);
  const out: [string, string][] = [];
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') fail(`__metadata__[${JSON.stringify(k)}] must be a string, found ${describe(val)}`);
    out.push([k, val]);
  }
  return Object.fromEntries(out);
}

export const isIndex = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function parseEntry(name: string, v: unknown, dataStart: number, fail: Fail): TensorInfo {
  const t = `tensor ${JSON.stringify(name)}`;
  const bad = (message: string): never => fail(`${t}: ${message}`, name);
  if (!isPlainObject(v)) return bad(`header entry must be an object, found ${describe(v)}`);
  for (const key of ['dtype', 'shape', 'data_offsets']) if (!Object.hasOwn(v, key)) bad(`header entry lacks "${key}"`);
  const { dtype, shape, data_offsets: offsets } = v;
  if (typeof dtype !== 'string') return bad(`dtype must be a string, found ${describe(dtype)}`);
  const bits = Object.hasOwn(DTYPE_BITS, dtype) ? DTYPE_BITS[dtype] : undefined;
  if (bits === undefined)
    return bad(`unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_BITS).join(', ')})`);
  if (!Array.isArray(shape) || !shape.every(isIndex))
    return bad(`shape must be an array of non-negative integers, found ${JSON.stringify(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
    return bad(`data_offsets must be [begin, end] of non-negative integers, found ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) bad(`data_offsets begin ${begin} is after end ${end}`);
  const nbytes = byteSize(shape as number[], bits, (m) => bad(`${dtype} shape ${JSON.stringify(shape)} ${m}`));
  if (nbytes !== end - begin) {
    bad(
      `${dtype} shape ${JSON.stringify(shape)} is ${nbytes} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  return { name, dtype, shape: shape as number[], begin: dataStart + begin, end: dataStart + end };
}

/** Checked arithmetic: any count past 2^53 is larger than any file we could read, so it is an error, not a wrap. */
function byteSize(shape: number[], bits: number, bad: (m: string) => never): number {
  if (shape.includes(0)) return 0;
  let elements = 1;
  for (const d of shape) {
    elements *= d;
    if (elements > Number.MAX_SAFE_INTEGER / 64) bad('overflows: its element count is beyond 2^47');
  }
  const totalBits = elements * bits;
  if (totalBits % 8 !== 0) bad(`is ${totalBits} bits, not a whole number of bytes`);
  return totalBits / 8;
}

/** Tensors, sorted by offset, must tile the data section exactly: from 0, no gaps, no overlaps, to the file's end. */
function checkLayout(infos: TensorInfo[], dataStart: number, size: number, fail: Fail): void {
  const sorted = [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end);
  const rel = (x: number): number => x - dataStart;
  let prev: TensorInfo | undefined;
  for (const cur of sorted) {
    const at = prev ? prev.end : dataStart;
    const c = JSON.stringify(cur.name);
    if (cur.begin > at) {
      if (!prev)
        fail(
          `tensor ${c} begins at data offset ${rel(cur.begin)} but the data section starts at 0 (gap of ${rel(cur.begin)} bytes)`,
          cur.name,
        );
      else
        fail(
          `gap of ${cur.begin - at} bytes between tensor ${JSON.stringify(prev.name)} (ends at data offset ${rel(at)}) and tensor ${c} (begins at ${rel(cur.begin)})`,
          cur.name,
        );
    }
    if (cur.begin < at && prev) {
      fail(
        `tensors ${JSON.stringify(prev.name)} [${rel(prev.begin)}, ${rel(prev.end)}) and ${c} [${rel(cur.begin)}, ${rel(cur.end)}) overlap`,
        cur.name,
      );
    }
    prev = cur;
  }
  const dataEnd = prev ? prev.end : dataStart;
  const available = size - dataStart;
  if (dataEnd > size) {
    fail(
      `file too short: tensor ${JSON.stringify(prev?.name)} ends at data offset ${rel(dataEnd)} but only ${available} data bytes follow the header (truncated file?)`,
      prev?.name,
    );
  }
  if (dataEnd < size)
    fail(
      `trailing bytes: the tensors cover ${rel(dataEnd)} data bytes but ${available} follow the header (${size - dataEnd} extra)`,
    );
}

/** Little-endian u16 elements; copies when the bytes are misaligned (odd offset) or the host is big-endian. */
function u16s(bytes: Uint8Array): Uint16Array {
  const n = bytes.byteLength / 2; // not >> 1: tensors may pass 2 GiB
  if (LITTLE_ENDIAN) {
    const aligned = bytes.byteOffset % 2 === 0 ? bytes : bytes.slice();
    return new Uint16Array(aligned.buffer, aligned.byteOffset, n);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Uint16Array.from({ length: n }, (_, i) => view.getUint16(2 * i, true));
}

function toF32(bytes: Uint8Array, dtype: Dtype): Float32Array {
  if (dtype === 'F32') {
    const out = new Float32Array(bytes.byteLength / 4);
    if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes);
    else {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
    }
    return out;
  }
  const src = u16s(bytes);
  if (dtype === 'F16') return halvesToF32(src);
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}
