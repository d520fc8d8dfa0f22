// Matmul op: C = alpha·op(A)·op(B) + bias, 2-D or batched, any transpose combination; its launcher is also used by
// the backward rules and by Muon's Newton–Schulz iteration.

import src from '../../../shaders/matmul.wgsl?raw';
import simpleSrc from '../../../shaders/matmul_simple.wgsl?raw';
import v4Src from '../../../shaders/matmul_v4.wgsl?raw';
import type { BufferView, Gpu } from '../../gpu/runtime';
import type { KernelSpec } from '../../gpu/kernel';
import { tape } from '../tape';
import { empty, type Tensor } from '../tensor';
import { assertF32 } from './launch';
import { launchColsum } from './colsum';
import { toHalfReleasing } from './cast';

const UNIFORMS: KernelSpec['uniforms'] = [
  ['M', 'u32'],
  ['N', 'u32'],
  ['K', 'u32'],
  ['strideA', 'u32'],
  ['strideB', 'u32'],
  ['strideC', 'u32'],
  ['alpha', 'f32'],
  ['beta', 'f32'],
  ['kChunk', 'u32'],
];
const STORAGE: KernelSpec['storage'] = ['read', 'read', 'read', 'rw'];

/**
 * The matmul kernels: `simple` (64×64 tile, 4×4 per thread), `reg64` and `reg128` (register-tiled, 8×8 per thread,
 * 64×64 or 128×128 tiles, K in slices of 8), `reg128v4` (reg128 with vec4 global loads; only where vec4Eligible), and
 * `reg128k16`/`reg128v4k16` (the same with K slices of 16: half the barriers, twice the workgroup memory, 32 KiB; only
 * where the adapter allows that much). All add the K products of an output in the same order with fma, so they give
 * bit-identical results and may be swapped at any time (a resumed run stays bit for bit).
 */
export type MatmulVariant = 'simple' | 'reg64' | 'reg128' | 'reg128v4' | 'reg128k16' | 'reg128v4k16';
export const MATMUL_VARIANTS: MatmulVariant[] = ['simple', 'reg64', 'reg128', 'reg128v4', 'reg128k16', 'reg128v4k16'];

/** A register-tiled kernel's source with its threads per side (tile = 8·wg) and K slice depth substituted. */
function tiledSource(source: string, wg: 8 | 16, tk: 8 | 16): string {
  const set = (text: string, name: string, value: number) => {
    const line = new RegExp(`^const ${name}: u32 = \\d+u;`, 'm');
    if (!line.test(text)) throw new Error(`matmul: no "const ${name}: u32 = …u;" line to substitute`);
    return text.replace(line, `const ${name}: u32 = ${value}u;`);
  };
  return set(set(source, 'WG', wg), 'TK', tk);
}
const tiled = (source: string, wg: 8 | 16, tk: 8 | 16) => ({
  spec: { name: 'matmul', source: tiledSource(source, wg, tk), storage: STORAGE, uniforms: UNIFORMS },
  tile: 8 * wg,
  workgroupBytes: 2 * 2 * tk * 8 * wg * 4, // two operands, two buffers, TK × TILE floats each
});
const SPECS: Record<MatmulVariant, { spec: KernelSpec; tile: number; workgroupBytes: number }> = {
  simple: {
    spec: { name: 'matmul', source: simpleSrc, storage: STORAGE, uniforms: UNIFORMS },
    tile: 64,
    workgroupBytes: 8192,
  },
  reg64: tiled(src, 8, 8),
  reg128: tiled(src, 16, 8),
  reg128v4: tiled(v4Src, 16, 8),
  reg128k16: tiled(src, 16, 16),
  reg128v4k16: tiled(v4Src, 16, 16),
};
const isV4 = (v: MatmulVariant) => v === 'reg128v4' || v === 'reg128v4k16';

/**
 * What the kernel does as it stores C (the output include it takes): nothing more (`matmul_out`), add a residual R
 * of C's shape (`matmul_out_residual`: a linear layer's output joins the residual stream without a separate add), or
 * also write GELU of the value to a second output G (`matmul_out_gelu`: C keeps the pre-activation for backward), G
 * as f32 or as halves (`matmul_out_gelu_f16`: half-precision activations; N even and no batch, whole words per thread).
 * Each binds its extra buffer after C, so the uniform moves one binding on.
 */
export type MatmulEpilogue = 'none' | 'residual' | 'gelu' | 'gelu_f16';
const EPILOGUES: Record<MatmulEpilogue, { lib: string; storage: KernelSpec['storage'] }> = {
  none: { lib: 'matmul_out', storage: STORAGE },
  residual: { lib: 'matmul_out_residual', storage: [...STORAGE, 'read'] },
  gelu: { lib: 'matmul_out_gelu', storage: [...STORAGE, 'rw'] },
  gelu_f16: { lib: 'matmul_out_gelu_f16', storage: [...STORAGE, 'rw'] },
};

/** Swaps a kernel's `//#include FROM` line for `//#include TO` (the line must be there). */
function swapInclude(source: string, from: RegExp, to: string, what: string): string {
  if (!from.test(source)) throw new Error(`matmul: ${what} has no ${from.source} line to swap`);
  return source.replace(from, to);
}

/**
 * Every variant's kernel with A as f32 or as halves (an f16 tensor: the same kernel with A's include swapped, the
 * product bit-identical to the f32 kernel's on the widened values) and with each epilogue: built once when the module
 * loads (a missing include line fails at once, not at some later dispatch), looked up per dispatch without building a
 * key, and the same source string each time for the pipeline cache.
 */
const KERNELS = Object.fromEntries(
  MATMUL_VARIANTS.map((v) => {
    const base = SPECS[v].spec;
    const what = `the ${v} kernel`;
    const byA = [false, true].map((halfA) => {
      const a = halfA
        ? swapInclude(base.source, /^\/\/#include (matmul_a4?)_f32$/m, '//#include $1_f16', what)
        : base.source;
      return Object.fromEntries(
        (Object.keys(EPILOGUES) as MatmulEpilogue[]).map((e) => {
          const source =
            e === 'none' ? a : swapInclude(a, /^\/\/#include matmul_out$/m, `//#include ${EPILOGUES[e].lib}`, what);
          return [
            e,
            { ...base, name: e === 'none' ? base.name : `${base.name}+${e}`, source, storage: EPILOGUES[e].storage },
          ];
        }),
      ) as Record<MatmulEpilogue, KernelSpec>;
    });
    return [v, byA];
  }),
) as Record<MatmulVariant, Record<MatmulEpilogue, KernelSpec>[]>;

/** A variant's kernel for an f32 or f16 A and an epilogue (see KERNELS). */
export function matmulKernel(variant: MatmulVariant, halfA = false, epilogue: MatmulEpilogue = 'none'): KernelSpec {
  return KERNELS[variant][halfA ? 1 : 0]![epilogue];
}

/**
 * Whether reg128v4 can run this product: A and B are read as vec4s along their contiguous dimension (A: K, or M
 * when transposed; B: N, or K when transposed), so it and both batch strides must be multiples of 4 (views start on
 * 256-byte offsets).
 */
export function vec4Eligible(x: {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  strideA?: number;
  strideB?: number;
}): boolean {
  const contA = x.transA ? x.M : x.K;
  const contB = x.transB ? x.K : x.N;
  return contA % 4 === 0 && contB % 4 === 0 && (x.strideA ?? x.M * x.K) % 4 === 0 && (x.strideB ?? x.K * x.N) % 4 === 0;
}
export const MATMUL: KernelSpec = SPECS.simple.spec;

export interface MatmulArgs {
  a: BufferView;
  b: BufferView;
  c: BufferView;
  bias?: BufferView | null;
  M: number;
  N: number;
  K: number;
  batch?: number;
  /** Elements between batch entries; 0 broadcasts that operand. Default: dense. */
  strideA?: number;
  strideB?: number;
  strideC?: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  /** 0 overwrites C; 1 accumulates into it. */
  beta?: number;
  /** The kernel (default: the tuned choice for this shape on this GPU, else `simple`); tests force each. */
  variant?: MatmulVariant;
  /** A holds halves (an f16 tensor's view); its element offsets and strides count halves. */
  halfA?: boolean;
  /** C += R as it is stored (R: C's size; beta must be 0). */
  residual?: BufferView | null;
  /** G = GELU(C) as C is stored (G: C's size; beta must be 0); C keeps the pre-activation. */
  gelu?: BufferView | null;
  /** G holds halves (an f16 tensor's view); needs an even N and no batch. */
  geluHalf?: boolean;
}

/** 128×128 tiles a split-K product aims to fill (a large GPU holds about two per multiprocessor). */
const SPLIT_TILES = 256;
/** Least K per part and most parts. The partial sums (parts × M·N floats, under 32 MiB: a split has few tiles) come from the pool. */
const SPLIT_MIN_K = 1024;
const SPLIT_MAX_PARTS = 64;

/**
 * Split-K plan of a product: the K range per part (a multiple of 64) and the number of parts, or null for none. A
 * product with few output tiles and a long K (weight gradients, K = batch × context; the tied head's dx, K =
 * vocabulary) would leave most of a GPU idle, each workgroup walking all of K; split, each part sums its K range into
 * a scratch and the parts are then added in a fixed order. Batched products, and those with a bias, an epilogue or a
 * beta other than 0 or 1, run whole. The plan depends on the arguments alone (never on timing or the adapter), so a run's
 * numbers do not change with the machine's load or between a run and its resume.
 */
export function splitK(s: {
  M: number;
  N: number;
  K: number;
  batch?: number;
  bias?: BufferView | null;
  beta?: number;
  residual?: BufferView | null;
  gelu?: BufferView | null;
}): { kChunk: number; parts: number } | null {
  const beta = s.beta ?? 0;
  if ((s.batch ?? 1) !== 1 || s.bias || s.residual || s.gelu || (beta !== 0 && beta !== 1) || s.M === 0 || s.N === 0)
    return null;
  const tiles = Math.ceil(s.M / 128) * Math.ceil(s.N / 128);
  const parts = Math.min(Math.ceil(SPLIT_TILES / tiles), Math.floor(s.K / SPLIT_MIN_K), SPLIT_MAX_PARTS);
  if (parts < 2) return null;
  const kChunk = Math.ceil(s.K / parts / 64) * 64;
  return { kChunk, parts: Math.ceil(s.K / kChunk) };
}

/** Records C[b] = alpha·op(A[b])·op(B[b]) + bias + beta·C[b] over raw views. */
export function launchMatmul(gpu: Gpu, x: MatmulArgs): void {
  const batch = x.batch ?? 1;
  let variant = x.variant ?? chosenVariant(gpu, x.M, x.N, x.K, batch, !!x.transA, !!x.transB);
  if (isV4(variant) && !vec4Eligible(x)) {
    if (x.variant)
      throw new Error(
        `matmul: ${variant} needs the operands' contiguous dimensions and batch strides to be multiples of 4 (M ${x.M}, N ${x.N}, K ${x.K})`,
      );
    // The tuned choice for these dimensions, on other strides: its bit-identical scalar-load twin.
    variant = variant === 'reg128v4' ? 'reg128' : 'reg128k16';
  }
  const { tile, workgroupBytes } = SPECS[variant];
  const epilogue: MatmulEpilogue = x.residual ? 'residual' : x.gelu ? (x.geluHalf ? 'gelu_f16' : 'gelu') : 'none';
  if (x.residual && x.gelu) throw new Error('matmul: one epilogue at a time (a residual or GELU, not both)');
  if (epilogue === 'gelu_f16' && (x.N % 2 !== 0 || batch !== 1))
    throw new Error(`matmul: a half GELU output needs an even N and no batch (N ${x.N}, batch ${batch})`);
  const extra = x.residual ?? x.gelu ?? null;
  if (extra && (x.beta ?? 0) !== 0)
    throw new Error(`matmul: the ${epilogue} epilogue overwrites C (beta must be 0, not ${x.beta})`);
  const spec = matmulKernel(variant, !!x.halfA, epilogue);
  if (workgroupBytes > workgroupLimit(gpu))
    throw new Error(
      `matmul: ${variant} needs ${workgroupBytes} bytes of workgroup memory; this adapter allows ${workgroupLimit(gpu)} (maxComputeWorkgroupStorageSize)`,
    );
  const split = splitK(x);
  const MN = x.M * x.N;
  // Split-K: part z's sum goes to row z of a [parts, M·N] scratch, then C = (beta 0) or += (beta 1) the column sums.
  const partial = split && empty(gpu, [split.parts, MN]);
  const uniforms = split
    ? { strideA: 0, strideB: 0, strideC: MN, beta: 0, kChunk: split.kChunk }
    : {
        strideA: x.strideA ?? x.M * x.K,
        strideB: x.strideB ?? x.K * x.N,
        strideC: x.strideC ?? MN,
        beta: x.beta ?? 0,
        kChunk: 0,
      };
  gpu.dispatch(
    spec,
    [x.a, x.b, x.bias ?? gpu.dummy, partial ? partial.view : x.c, ...(extra ? [extra] : [])],
    { M: x.M, N: x.N, K: x.K, alpha: x.alpha ?? 1, ...uniforms },
    [Math.ceil(x.N / tile), Math.ceil(x.M / tile), split ? split.parts : batch],
    { TRANS_A: !!x.transA, TRANS_B: !!x.transB, HAS_BIAS: !!x.bias },
  );
  if (!partial) return;
  // The parts' sum is written over C (beta 0: C is not read) or added to it (beta 1).
  launchColsum(gpu, partial.view, { ...x.c, size: MN * 4 }, split!.parts, MN, x.beta === 1);
  partial.dispose();
}

interface Shape {
  M: number;
  N: number;
  K: number;
  batch: number;
  transA: boolean;
  transB: boolean;
}
interface Tuning {
  enabled: boolean;
  chosen: Map<string, MatmulVariant>;
  pending: Map<string, Shape>;
}
const tunings = new WeakMap<Gpu, Tuning>();
const shapeKey = (s: Shape) => `${s.batch}×${s.M}×${s.N}×${s.K}${s.transA ? ' tA' : ''}${s.transB ? ' tB' : ''}`;

function tuning(gpu: Gpu): Tuning {
  let t = tunings.get(gpu);
  if (!t) {
    t = { enabled: false, chosen: new Map(), pending: new Map() };
    tunings.set(gpu, t);
  }
  return t;
}

function chosenVariant(
  gpu: Gpu,
  M: number,
  N: number,
  K: number,
  batch: number,
  transA: boolean,
  transB: boolean,
): MatmulVariant {
  const t = tuning(gpu);
  const shape = { M, N, K, batch, transA, transB };
  const key = shapeKey(shape);
  const v = t.chosen.get(key);
  if (v) return v;
  if (t.enabled) t.pending.set(key, shape);
  return 'simple';
}

/**
 * Turns per-shape kernel timing on for this GPU: shapes launched from now on are remembered, and tuneMatmuls()
 * times every kernel on each and keeps the fastest. Off by default (a software adapter would spend minutes).
 */
export function enableMatmulTuning(gpu: Gpu): void {
  tuning(gpu).enabled = true;
}

export function hasPendingMatmulTuning(gpu: Gpu): boolean {
  return !!tunings.get(gpu)?.pending.size;
}

/** Times each variant on every shape launched since the last call (timeVariants) and keeps the fastest. */
export async function tuneMatmuls(
  gpu: Gpu,
): Promise<{ shape: string; chosen: MatmulVariant; ms: Partial<Record<MatmulVariant, number>> }[]> {
  const t = tuning(gpu);
  const out: { shape: string; chosen: MatmulVariant; ms: Partial<Record<MatmulVariant, number>> }[] = [];
  const maxBinding = Math.min(gpu.limits.maxStorageBufferBindingSize ?? 2 ** 27, gpu.limits.maxBufferSize ?? 2 ** 28);
  for (const [key, s] of [...t.pending]) {
    t.pending.delete(key);
    const sizes = [s.batch * s.M * s.K, s.batch * s.K * s.N, s.batch * s.M * s.N].map((n) => n * 4);
    if (sizes.some((b) => b > maxBinding)) {
      t.chosen.set(key, 'simple');
      continue;
    }
    try {
      // In error scopes: scratch operands the GPU has no memory for fail this shape's timing, not the device.
      const ms = await gpu.scoped(() => timeVariants(gpu, s));
      const chosen = variantsFor(gpu, s).reduce((x, y) => (ms[y]! < ms[x]! ? y : x));
      t.chosen.set(key, chosen);
      out.push({ shape: key, chosen, ms });
    } catch {
      if (gpu.error) throw gpu.error;
      t.chosen.set(key, 'simple');
    }
  }
  if (out.length) gpu.trim(); // hand the scratch operands' memory back
  return out;
}

/** The adapter's workgroup memory per workgroup (absent: WebGPU's default, 16 KiB, which every adapter offers). */
const workgroupLimit = (gpu: Pick<Gpu, 'limits'>) => gpu.limits.maxComputeWorkgroupStorageSize ?? 16384;

/** The variants that can run a product of these dimensions (dense operands) on this GPU. */
export function variantsFor(
  gpu: Pick<Gpu, 'limits'>,
  s: { M: number; N: number; K: number; transA?: boolean; transB?: boolean },
): MatmulVariant[] {
  return MATMUL_VARIANTS.filter((v) => (!isV4(v) || vec4Eligible(s)) && SPECS[v].workgroupBytes <= workgroupLimit(gpu));
}

/** Host milliseconds a tuning measurement aims to span (a few launches of a small product, one of a large one). */
const TUNE_TARGET_MS = 3;

/**
 * Milliseconds per launch of each variant on zeroed scratch operands of shape `s`. A measurement times `reps`
 * launches submitted back to back then awaited, so the wait for the GPU (a large share of one small product's wall
 * time) is spread over them; the variants take turns over 3 rounds, and each keeps its best round.
 */
async function timeVariants(gpu: Gpu, s: Shape): Promise<Partial<Record<MatmulVariant, number>>> {
  const a = empty(gpu, [s.batch * s.M * s.K]);
  const b = empty(gpu, [s.batch * s.K * s.N]);
  const c = empty(gpu, [s.batch * s.M * s.N]);
  try {
    gpu.clear(a.view);
    gpu.clear(b.view);
    const timed = async (variant: MatmulVariant, reps: number) => {
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) launchMatmul(gpu, { a: a.view, b: b.view, c: c.view, ...s, variant });
      await gpu.sync();
      return (performance.now() - t0) / reps;
    };
    const variants = variantsFor(gpu, s);
    const reps = new Map<MatmulVariant, number>();
    for (const v of variants) {
      await timed(v, 1); // compiles the pipeline, binds the operands
      reps.set(v, Math.max(1, Math.min(50, Math.ceil(TUNE_TARGET_MS / Math.max(await timed(v, 1), 1e-3)))));
    }
    const ms: Partial<Record<MatmulVariant, number>> = {};
    for (let round = 0; round < 3; round++) {
      for (const v of variants) ms[v] = Math.min(ms[v] ?? Infinity, await timed(v, reps.get(v)!));
    }
    return ms;
  } finally {
    for (const z of [a, b, c]) z.dispose();
  }
}

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  bias?: Tensor | null;
  alpha?: number;
  /** Added to the product as it is stored (the residual stream: same shape as the output); its gradient is the output's. */
  residual?: Tensor | null;
}

/** A matmul's dimensions from its operands' shapes (see matmul), checked. */
function plan(a: Tensor, b: Tensor, opts: MatmulOptions) {
  const { transA = false, transB = false, bias = null, residual = null } = opts;
  if (a.dtype === 'f16') {
    if (transB) throw new Error('matmul: an f16 A needs an untransposed B (transB is not supported with half storage)');
  } else assertF32(a, 'matmul A');
  assertF32(b, 'matmul B');
  if (a.shape.length < 2 || b.shape.length < 2) throw new Error('matmul needs tensors of rank ≥ 2');
  const ar = a.shape.length;
  const br = b.shape.length;
  const [aRows, aCols] = [a.shape[ar - 2]!, a.shape[ar - 1]!];
  const [bRows, bCols] = [b.shape[br - 2]!, b.shape[br - 1]!];
  let M = transA ? aCols : aRows;
  const K = transA ? aRows : aCols;
  const Kb = transB ? bCols : bRows;
  const N = transB ? bRows : bCols;
  if (K !== Kb)
    throw new Error(
      `matmul: inner dimensions differ (A gives K=${K}, B gives K=${Kb}); shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`,
    );
  let batch = 1;
  let outShape: number[];
  const lead = a.shape.slice(0, -2);
  if (br === 2) {
    if (lead.length && transA) throw new Error('matmul: a batched transposed A needs a batched B');
    M = a.size / K;
    outShape = [...lead, transA ? aCols : aRows, N];
  } else {
    if (b.shape.slice(0, -2).join() !== lead.join())
      throw new Error(`matmul: batch dims differ: [${a.shape.join(', ')}] vs [${b.shape.join(', ')}]`);
    batch = lead.reduce((x, y) => x * y, 1);
    outShape = [...lead, M, N];
  }
  if (bias) {
    assertF32(bias, 'matmul bias');
    if (bias.size !== N) throw new Error(`matmul: bias has ${bias.size} elements, N is ${N}`);
  }
  if (residual) {
    assertF32(residual, 'matmul residual');
    if (residual.shape.join() !== outShape.join())
      throw new Error(`matmul: the residual is [${residual.shape.join(', ')}], the output [${outShape.join(', ')}]`);
  }
  return { transA, transB, bias, residual, alpha: opts.alpha ?? 1, M, N, K, batch, outShape };
}

/** Launches a planned matmul into c (with G = GELU(C) into g if given, f32 or f16) and records it. */
function run(a: Tensor, b: Tensor, x: ReturnType<typeof plan>, c: Tensor, g: Tensor | null): void {
  const { transA, transB, bias, residual, alpha, M, N, K, batch } = x;
  launchMatmul(a.gpu, {
    a: a.view,
    b: b.view,
    c: c.view,
    bias: bias?.view ?? null,
    M,
    N,
    K,
    batch,
    transA,
    transB,
    alpha,
    halfA: a.dtype === 'f16',
    residual: residual?.view ?? null,
    gelu: g?.view ?? null,
    geluHalf: g?.dtype === 'f16',
  });
  const inputs = [a, b, ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  tape.record('matmul', inputs, [c], { transA, transB, alpha, batch, M, N, K, bias: !!bias, residual: !!residual });
}

/**
 * op(A)·op(B) (+ bias) (+ residual). Shapes: A [..., M, K] (or [..., K, M] with transA), B [K, N] (or [N, K] with
 * transB), or B with the same leading batch dims as A. A 2-D B with untransposed A folds A's leading dims into M (a
 * linear layer). A may be an f16 tensor (half-precision activations) unless transB: the kernels read halves as
 * operand A only, and B's gradient with transB would take A as operand B. A residual is added by the kernel as it
 * stores the output (one pass, no separate add).
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const x = plan(a, b, opts);
  const c = empty(a.gpu, x.outShape);
  run(a, b, x, c, null);
  return c;
}

/**
 * GELU(op(A)·op(B) + bias) in one kernel: the product's epilogue writes both the pre-activation (kept for GELU's
 * backward, which reads it) and the activation, instead of a second pass over the product. On the tape it is the
 * matmul and the GELU it replaces, so backward is theirs. `half`: the activation is an f16 tensor (half-precision
 * activations), rounded as toHalf rounds, written as halves by the epilogue where it can (an even N, no batch), else
 * rounded by toHalf after; its gradient is f32 like every gradient.
 */
export function matmulGelu(
  a: Tensor,
  b: Tensor,
  opts: Omit<MatmulOptions, 'residual'> & { half?: boolean } = {},
): Tensor {
  const x = plan(a, b, opts);
  if (opts.half && (x.N % 2 !== 0 || x.batch !== 1)) return toHalfReleasing(matmulGelu(a, b, { ...opts, half: false }));
  const u = empty(a.gpu, x.outShape);
  const y = empty(a.gpu, x.outShape, opts.half ? 'f16' : 'f32');
  run(a, b, x, u, y);
  tape.record('gelu', [u], [y], {});
  // The pre-activation lives on only as the GELU node's saved input (or not at all outside grad mode).
  u.dispose();
  return y;
}
