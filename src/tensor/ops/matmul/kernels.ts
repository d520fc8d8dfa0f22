// The matmul kernels: six bit-identical variants (tiling, vec4 loads, K-slice depth), each built with f32 or f16
// operands A and B and with one of four output epilogues; which variants a device and a shape can run.

import src from '../../../../shaders/matmul.wgsl?raw';
import simpleSrc from '../../../../shaders/matmul_simple.wgsl?raw';
import v4Src from '../../../../shaders/matmul_v4.wgsl?raw';
import { kernel, type KernelSpec } from '../../../gpu/kernel';
import type { GpuLimits } from '../../../gpu/limits';

/** The matmul kernels' Params (matmul_store.wgsl's struct), shared by the tensor-core kernel. */
export const MATMUL_UNIFORMS: KernelSpec['uniforms'] = [
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
  spec: kernel({ name: 'matmul', source: tiledSource(source, wg, tk), storage: STORAGE, uniforms: MATMUL_UNIFORMS }),
  tile: 8 * wg,
  workgroupBytes: 2 * 2 * tk * 8 * wg * 4, // two operands, two buffers, TK × TILE floats each
});
export const SPECS: Record<MatmulVariant, { spec: KernelSpec; tile: number; workgroupBytes: number }> = {
  simple: {
    spec: kernel({ name: 'matmul', source: simpleSrc, storage: STORAGE, uniforms: MATMUL_UNIFORMS }),
    tile: 64,
    workgroupBytes: 8192,
  },
  reg64: tiled(src, 8, 8),
  reg128: tiled(src, 16, 8),
  reg128v4: tiled(v4Src, 16, 8),
  reg128k16: tiled(src, 16, 16),
  reg128v4k16: tiled(v4Src, 16, 16),
};
export const isV4 = (v: MatmulVariant) => v === 'reg128v4' || v === 'reg128v4k16';

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
 * Every variant's kernel with A and B each as f32 or as halves (an f16 tensor: the same kernel with the operand's
 * include swapped, the product bit-identical to the f32 kernel's on the widened values) and with each epilogue: built
 * once when the module loads (a missing include line fails at once, not at some later dispatch), looked up per
 * dispatch without building a key, and the same source string each time for the pipeline cache.
 */
const KERNELS = Object.fromEntries(
  MATMUL_VARIANTS.map((v) => {
    const base = SPECS[v].spec;
    const what = `the ${v} kernel`;
    const byOperands = [0, 1, 2, 3].map((bits) => {
      const [halfA, halfB] = [(bits & 1) !== 0, (bits & 2) !== 0];
      let a = base.source;
      if (halfA) a = swapInclude(a, /^\/\/#include (matmul_a4?)_f32$/m, '//#include $1_f16', what);
      if (halfB) a = swapInclude(a, /^\/\/#include (matmul_b4?)_f32$/m, '//#include $1_f16', what);
      return Object.fromEntries(
        (Object.keys(EPILOGUES) as MatmulEpilogue[]).map((e) => {
          const source =
            e === 'none' ? a : swapInclude(a, /^\/\/#include matmul_out$/m, `//#include ${EPILOGUES[e].lib}`, what);
          return [
            e,
            kernel({
              ...base,
              name: e === 'none' ? base.name : `${base.name}+${e}`,
              source,
              storage: EPILOGUES[e].storage,
            }),
          ];
        }),
      ) as Record<MatmulEpilogue, KernelSpec>;
    });
    return [v, byOperands];
  }),
) as Record<MatmulVariant, Record<MatmulEpilogue, KernelSpec>[]>;

/** A variant's kernel for f32 or f16 operands A and B and an epilogue (see KERNELS). */
export function matmulKernel(
  variant: MatmulVariant,
  halfA = false,
  epilogue: MatmulEpilogue = 'none',
  halfB = false,
): KernelSpec {
  return KERNELS[variant][(halfA ? 1 : 0) | (halfB ? 2 : 0)]![epilogue];
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

/** The variants that can run a product of these dimensions (dense operands) on a device with these limits. */
export function variantsFor(
  gpu: { limits: Pick<GpuLimits, 'maxComputeWorkgroupStorageSize'> },
  s: { M: number; N: number; K: number; transA?: boolean; transB?: boolean },
): MatmulVariant[] {
  return MATMUL_VARIANTS.filter(
    (v) => (!isV4(v) || vec4Eligible(s)) && SPECS[v].workgroupBytes <= gpu.limits.maxComputeWorkgroupStorageSize,
  );
}
