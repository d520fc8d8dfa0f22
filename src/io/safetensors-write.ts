// Writing safetensors (the reader's counterpart, safetensors.ts): F32 tensors in order (or rounded to BF16), a header padded to an 8-byte
// boundary, the metadata checked as the reader would check it.

import { describe, type Fail, failer, isIndex, LITTLE_ENDIAN } from './safetensors';

/**
 * Serialises F32 tensors in the given order (data_offsets contiguous in that order). The header JSON is padded with
 * spaces so the data starts on an 8-byte boundary; `__metadata__` is written only when metadata is given. Returns
 * the parts to concatenate (`new Blob(parts)` in the browser, writeParts in Node): the prefix + header, then one
 * view per tensor (no copy on little-endian hosts unless the floats live in a SharedArrayBuffer).
 */
export function writeSafetensors(
  tensors: { name: string; shape: number[]; data: Float32Array }[],
  metadata?: Record<string, string>,
  opts: { dtype?: 'F32' | 'BF16' } = {},
): Uint8Array<ArrayBuffer>[] {
  const bf16 = opts.dtype === 'BF16';
  const fail: Fail = failer(undefined);
  const entries: string[] = [];
  if (metadata !== undefined) entries.push(`"__metadata__":${JSON.stringify(checkedMetadata(metadata, fail))}`);
  const seen = new Set<string>();
  let offset = 0;
  for (const { name, shape, data } of tensors) {
    checkWritable(name, shape, data, seen, fail);
    const end = offset + (bf16 ? 2 * data.length : data.byteLength);
    const dtype = bf16 ? 'BF16' : 'F32';
    entries.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype, shape, data_offsets: [offset, end] })}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${entries.join(',')}}`);
  const n = Math.ceil(json.byteLength / 8) * 8;
  const head = new Uint8Array(8 + n).fill(0x20, 8 + json.byteLength);
  new DataView(head.buffer).setBigUint64(0, BigInt(n), true);
  head.set(json, 8);
  return [head, ...tensors.map(({ data }) => (bf16 ? bf16Bytes(data) : leBytes(data)))];
}

/**
 * Each float rounded to bfloat16 (the upper 16 bits of its f32 pattern, rounded to nearest, ties to even, as PyTorch's
 * `.to(torch.bfloat16)` rounds; NaN stays a quiet NaN), little-endian.
 */
export function bf16Bytes(data: Float32Array): Uint8Array<ArrayBuffer> {
  const bits = new Uint32Array(Float32Array.from(data).buffer);
  const out = new Uint8Array(2 * data.length);
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i]!;
    const h = (u & 0x7fffffff) > 0x7f800000 ? 0x7fc0 | ((u >>> 16) & 0x8000) : (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = (h >>> 8) & 0xff;
  }
  return out;
}

function checkedMetadata(metadata: Record<string, string>, fail: Fail): Record<string, string> {
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') fail(`metadata value for ${JSON.stringify(k)} must be a string, found ${describe(v)}`);
  }
  return metadata;
}

function checkWritable(name: string, shape: number[], data: Float32Array, seen: Set<string>, fail: Fail): void {
  const t = `tensor ${JSON.stringify(name)}`;
  if (name === '__metadata__') fail('"__metadata__" is reserved and cannot name a tensor', name);
  if (seen.has(name)) fail(`duplicate tensor name ${JSON.stringify(name)}`, name);
  seen.add(name);
  if (!Array.isArray(shape) || !shape.every(isIndex))
    fail(`${t}: shape must be non-negative integers, found ${JSON.stringify(shape)}`, name);
  const elements = shape.reduce((a, b) => a * b, 1);
  if (elements !== data.length)
    fail(`${t}: shape ${JSON.stringify(shape)} has ${elements} elements but data has ${data.length}`, name);
}

/** Views the floats without copying where possible; typed over ArrayBuffer so `new Blob(parts)` type-checks. */
function leBytes(data: Float32Array): Uint8Array<ArrayBuffer> {
  if (LITTLE_ENDIAN && data.buffer instanceof ArrayBuffer)
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  if (LITTLE_ENDIAN) out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  else {
    const view = new DataView(out.buffer);
    for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i], true);
  }
  return out;
}
