// Causal multi-head self-attention straight from the packed projection qkv [B,T,(H+2·KV)·D] to [B,T,H·D] (KV = H: GPT-2's
// c_attn output [B,T,3C]; KV < H: grouped-query attention, query head h reading key/value head h/(H/KV)): one tiled kernel forward
// (FlashAttention-2 style, saving only the log-sum-exp per row), two deterministic tiled kernels backward (query
// side, key/value side). Each kernel is compiled per head-size bucket with its tile shape written into the source.

import fwdSrc from '../../../shaders/attention_forward.wgsl?raw';
import dqSrc from '../../../shaders/attention_backward_dq.wgsl?raw';
import dkvSrc from '../../../shaders/attention_backward_dkv.wgsl?raw';
import { kernel, type Constants, type KernelSpec } from '../../gpu/kernel';
import type { BufferView, Gpu } from '../../gpu/runtime';
import { tape } from '../tape';
import { empty, type Tensor } from '../tensor';
import { assertF32, dispatchRows } from './launch';

const DIMS = [
  ['B', 'u32'],
  ['T', 'u32'],
  ['H', 'u32'],
  ['KV', 'u32'],
  ['D', 'u32'],
  ['scale', 'f32'],
] as const;
const FORWARD = kernel({
  name: 'attention_forward',
  source: fwdSrc,
  storage: ['read', 'rw', 'rw'],
  uniforms: DIMS,
});
const BACKWARD_DQ = kernel({
  name: 'attention_backward_dq',
  source: dqSrc,
  storage: ['read', 'read', 'read', 'read', 'rw', 'rw'],
  uniforms: DIMS,
});
const BACKWARD_DKV = kernel({
  name: 'attention_backward_dkv',
  source: dkvSrc,
  storage: ['read', 'read', 'read', 'read', 'rw'],
  uniforms: DIMS,
});

/** The head sizes a kernel variant is compiled for: D is zero-padded up to the next one. */
const BUCKETS = [4, 8, 16, 32, 64, 128, 256] as const;
type Bucket = (typeof BUCKETS)[number];
export type Kind = 'forward' | 'dq' | 'dkv';

/**
 * Per kernel and head-size bucket: S threads share a row, each holding DH/S head dims in registers (one thread per row
 * runs out of registers past DH = 64, and in dq, which holds three vectors, was slower past 32); a workgroup has `rows` rows
 * (queries for forward and dq, keys for dkv, which has two S-thread groups per key); `tile` is the number of keys
 * (forward, dq) or queries (dkv) staged per step in workgroup memory, lowered further if the memory budget needs it
 * (tileBytes). Measured on an H100 (Dawn/Vulkan) at B=8, T=1024: short tiles win (fewer live registers), and tiles of
 * 12 or 21 lost up to 1.7× against 8 or 16 for D = 64. Exported for tuning.
 */
export const ATTENTION_TILES: Record<Kind, Record<Bucket, { S: number; rows: number; tile: number }>> = {
  forward: {
    4: { S: 1, rows: 64, tile: 16 },
    8: { S: 1, rows: 64, tile: 16 },
    16: { S: 1, rows: 64, tile: 16 },
    32: { S: 1, rows: 64, tile: 16 },
    64: { S: 1, rows: 64, tile: 8 },
    128: { S: 2, rows: 64, tile: 8 },
    256: { S: 4, rows: 64, tile: 4 },
  },
  dq: {
    4: { S: 1, rows: 64, tile: 16 },
    8: { S: 1, rows: 64, tile: 16 },
    16: { S: 1, rows: 64, tile: 16 },
    32: { S: 1, rows: 64, tile: 16 },
    64: { S: 2, rows: 64, tile: 8 },
    128: { S: 4, rows: 64, tile: 4 },
    256: { S: 8, rows: 32, tile: 4 },
  },
  dkv: {
    4: { S: 1, rows: 64, tile: 16 },
    8: { S: 1, rows: 64, tile: 16 },
    16: { S: 1, rows: 64, tile: 16 },
    32: { S: 1, rows: 64, tile: 16 },
    64: { S: 1, rows: 64, tile: 8 },
    128: { S: 2, rows: 32, tile: 8 },
    256: { S: 4, rows: 32, tile: 4 },
  },
};
/** Workgroup memory we ask for at most: WebGPU's default limit, which is what browsers give unless asked. */
const WORKGROUP_BYTES = 16384;

/** Workgroup bytes of a kernel variant as a function of its tile length n (mirrors the shaders' var<workgroup>). */
function tileBytes(kind: Kind, DH: number, S: number, rows: number, n: number): number {
  const tiles = 2 * n * DH * 4; // K and V (forward, dq) or Q and dO (dkv)
  if (kind === 'forward') return tiles + (S > 1 ? S * n * rows * 4 : 4);
  if (kind === 'dq') return tiles + (S > 1 ? 2 * S * n * rows * 4 : 4);
  return tiles + 2 * n * 4 + n * rows * 4 + (S > 1 ? 2 * S * n * rows * 4 : 4);
}

interface Variant {
  spec: KernelSpec;
  /** Rows (queries or keys) per workgroup. */
  rows: number;
}

const variants = new Map<string, Variant>();

/**
 * The kernel variant for head size D: the shader with its tile-shape line (`const DH … ;` on one line, so error
 * line numbers still match the file) rewritten for D's bucket, with the table's tile or the longest one that fits
 * this adapter's workgroup memory. Every variant keeps the kernel's name, so GPU timings group under it.
 */
function variant(gpu: Gpu, kind: Kind, D: number): Variant {
  if (D > 256) throw new Error(`attention: head size ${D} exceeds the supported 256`);
  const DH = BUCKETS.find((x) => x >= D)!;
  const { S, rows, tile } = ATTENTION_TILES[kind][DH];
  const budget = Math.min(WORKGROUP_BYTES, gpu.limits.maxComputeWorkgroupStorageSize);
  let n = tile;
  while (n > 1 && tileBytes(kind, DH, S, rows, n) > budget) n--;
  if (tileBytes(kind, DH, S, rows, n) > budget) {
    throw new Error(
      `attention: head size ${D} needs ${tileBytes(kind, DH, S, rows, n)} bytes of workgroup memory; this adapter's maxComputeWorkgroupStorageSize is ${budget}.`,
    );
  }
  const key = `${kind}:${DH}:${S}:${rows}:${n}`;
  let v = variants.get(key);
  if (!v) {
    const base = kind === 'forward' ? FORWARD : kind === 'dq' ? BACKWARD_DQ : BACKWARD_DKV;
    const [R, N] = kind === 'dkv' ? ['BK', 'BQ'] : ['BR', 'BC'];
    const line = `const DH: u32 = ${DH}u; const S: u32 = ${S}u; const ${R}: u32 = ${rows}u; const ${N}: u32 = ${n}u;`;
    const pattern = new RegExp(
      `^const DH: u32 = \\d+u; const S: u32 = \\d+u; const ${R}: u32 = \\d+u; const ${N}: u32 = \\d+u;$`,
      'm',
    );
    if (!pattern.test(base.source)) throw new Error(`attention: shaders/${base.name}.wgsl lacks its tile-shape line`);
    v = { spec: kernel({ ...base, source: base.source.replace(pattern, line) }), rows };
    variants.set(key, v);
  }
  return v;
}

/** T×D-by-D×T products each kernel computes per query head: S and P·V; S, dP and dQ; S, dP, dV and dK. */
const PRODUCTS: Record<Kind, number> = { forward: 2, dq: 3, dkv: 4 };

/**
 * FLOPs one attention kernel executes (recomputed products included): each causal product over one query head
 * multiplies T·(T+1)/2 (query, key) pairs by D, two operations per multiply-add.
 */
export function attentionKernelFlops(kind: Kind, dims: Pick<AttentionDims, 'B' | 'T' | 'H' | 'D'>): number {
  return PRODUCTS[kind] * dims.B * dims.H * dims.T * (dims.T + 1) * dims.D;
}

/** Dispatches one workgroup per (b, head, block of the variant's rows): query heads, or key/value heads for dkv. */
function launch(gpu: Gpu, kind: Kind, views: BufferView[], dims: AttentionDims, constants?: Constants): void {
  const { spec, rows } = variant(gpu, kind, dims.D);
  const heads = kind === 'dkv' ? dims.KV : dims.H;
  const groups = dims.B * heads * Math.ceil(dims.T / rows);
  dispatchRows(gpu, spec, views, { ...dims }, groups, constants, attentionKernelFlops(kind, dims));
}

export interface AttentionDims {
  B: number;
  T: number;
  H: number;
  /** Key/value heads (H for multi-head attention). */
  KV: number;
  D: number;
  scale: number;
}

/** Head size D of a packed qkv row of `width` floats with H query and KV key/value heads (an Error if none fits). */
export function attentionHeadSize(width: number, H: number, KV: number): number {
  if (!Number.isInteger(H) || !Number.isInteger(KV) || H < 1 || KV < 1 || H % KV)
    throw new Error(`attention: ${KV} key/value heads do not divide ${H} query heads`);
  const heads = H + 2 * KV;
  if (width % heads)
    throw new Error(`attention: width ${width} is not ${heads} heads (H ${H} + 2·KV ${KV}) of one size`);
  return width / heads;
}

/**
 * The unrecorded forward: qkv [B,T,(H+2·KV)·D] → out [B,T,H·D] and the log-sum-exp lse [B,H,T] of each query row's
 * scaled scores. attention() records it for backward; the attention-rank analysis builds probabilities from lse.
 */
export function attentionForward(qkv: Tensor, H: number, KV = H): { out: Tensor; lse: Tensor; dims: AttentionDims } {
  assertF32(qkv, 'attention');
  if (qkv.shape.length !== 3) throw new Error(`attention expects qkv [B,T,(H+2·KV)·D], got [${qkv.shape.join(', ')}]`);
  const [B, T, W] = qkv.shape as [number, number, number];
  const D = attentionHeadSize(W, H, KV);
  const gpu = qkv.gpu;
  const out = empty(gpu, [B, T, H * D]);
  const lse = empty(gpu, [B, H, T]);
  const dims = { B, T, H, KV, D, scale: 1 / Math.sqrt(D) };
  launch(gpu, 'forward', [qkv.view, out.view, lse.view], dims);
  return { out, lse, dims };
}

/** qkv [B,T,(H+2·KV)·D] → [B,T,H·D] with H query heads and KV key/value heads (default H) (recorded). */
export function attention(qkv: Tensor, H: number, KV = H): Tensor {
  const {
    out,
    lse,
    dims: { B, T, D },
  } = attentionForward(qkv, H, KV);
  tape.record('attention', [qkv], [out], { B, T, H, KV, D, lse }, [lse]);
  return out;
}

/**
 * dqkv from dOut, given the forward's qkv, out and lse: added to dqkv.t with accumulate, else written over it (every
 * element: the dq kernel writes the q columns, the dkv kernel the k and v columns).
 */
export function attentionBackward(
  qkv: Tensor,
  out: Tensor,
  dOut: Tensor,
  lse: Tensor,
  dqkv: { t: Tensor; accumulate: boolean },
  B: number,
  T: number,
  H: number,
  KV: number,
  D: number,
): void {
  const gpu = qkv.gpu;
  const dims = { B, T, H, KV, D, scale: 1 / Math.sqrt(D) };
  const delta = empty(gpu, [B, H, T]); // Δ_t = dO_t · O_t, written by the dq kernel for the dkv kernel
  const constants = { ACCUMULATE: dqkv.accumulate };
  launch(gpu, 'dq', [qkv.view, out.view, dOut.view, lse.view, delta.view, dqkv.t.view], dims, constants);
  launch(gpu, 'dkv', [qkv.view, dOut.view, lse.view, delta.view, dqkv.t.view], dims, constants);
  delta.dispose();
}
