// The tensor-core matmul: f16 operands on subgroup matrices with f32 accumulation (shaders/matmul_sgmat_f16.wgsl),
// for adapters that offer an f16 → f32 subgroup-matrix config (Capabilities.tensorCores) and one subgroup size.
// Separate from the f32 variants (which are bit-identical to one another): its sums are f32 accumulations of exact
// f16 × f16 products in the hardware's order, so it agrees with an f64 reference on the same halves to within f32
// rounding of the sums, not bit for bit.

import src from '../../../../shaders/matmul_sgmat_f16.wgsl?raw';
import type { SubgroupMatrixConfig } from '../../../gpu/capabilities';
import { kernel, type KernelSpec } from '../../../gpu/kernel';
import type { BufferView, Gpu } from '../../../gpu/runtime';

export interface SgmatTile {
  config: SubgroupMatrixConfig;
  /** Result matrices per subgroup along M and N, and subgroups per workgroup along M and N. */
  FM: number;
  FN: number;
  SGM: number;
  SGN: number;
  /** The subgroup size the kernel is built for (the adapter's only one). */
  sgSize: number;
}

/** Rows and columns of C one workgroup computes. */
export const tileRows = (t: SgmatTile) => t.SGM * t.FM * t.config.M;
export const tileCols = (t: SgmatTile) => t.SGN * t.FN * t.config.N;

/**
 * The tile for this device, or null where the kernel cannot run: no f16 → f32 config, or subgroups of more than one
 * size (the kernel counts its subgroups at compile time). Each subgroup holds a 32×32 part of C (or one config's
 * worth if larger), 2 × 2 subgroups per workgroup, within the invocation limit.
 */
export function sgmatTile(gpu: Pick<Gpu, 'capabilities' | 'description' | 'device'>): SgmatTile | null {
  const config = gpu.capabilities.tensorCores;
  const { subgroupMinSize: lo, subgroupMaxSize: hi } = gpu.description;
  if (!config || !(lo > 0) || lo !== hi) return null;
  return tileFor(config, hi, gpu.device.limits.maxComputeInvocationsPerWorkgroup);
}

/** The tile for a config and subgroup size under an invocation limit (exported for the compile test). */
export function tileFor(config: SubgroupMatrixConfig, sgSize: number, maxInvocations: number): SgmatTile | null {
  const per = (x: number) => Math.max(1, Math.floor(32 / x));
  let SGM = 2;
  let SGN = 2;
  while (SGM * SGN * sgSize > maxInvocations && SGN > 1) SGN--;
  while (SGM * SGN * sgSize > maxInvocations && SGM > 1) SGM--;
  if (SGM * SGN * sgSize > maxInvocations) return null;
  return { config, FM: per(config.M), FN: per(config.N), SGM, SGN, sgSize };
}

const SHAPE_LINE = /^const SM: u32 = \d+u;.*$/m;
const specs = new Map<string, KernelSpec>();

/** The kernel for a tile and transposes: its constants line and load layouts written in. */
export function sgmatKernel(t: SgmatTile, transA: boolean, transB: boolean): KernelSpec {
  const key = `${t.config.M}×${t.config.N}×${t.config.K}:${t.FM}×${t.FN}:${t.SGM}×${t.SGN}:${t.sgSize}:${transA}:${transB}`;
  let spec = specs.get(key);
  if (!spec) {
    if (!SHAPE_LINE.test(src)) throw new Error('matmul_sgmat_f16.wgsl lacks its constants line');
    const { M, N, K } = t.config;
    const line = `const SM: u32 = ${M}u; const SN: u32 = ${N}u; const SK: u32 = ${K}u; const FM: u32 = ${t.FM}u; const FN: u32 = ${t.FN}u; const SGM: u32 = ${t.SGM}u; const SGN: u32 = ${t.SGN}u; const SGSIZE: u32 = ${t.sgSize}u;`;
    const layout: Record<string, string> = transA
      ? { LAYOUT_A: 'col_major', OFFSET_A: 'k * p.M + m', STRIDE_A: 'p.M' }
      : { LAYOUT_A: 'row_major', OFFSET_A: 'm * p.K + k', STRIDE_A: 'p.K' };
    Object.assign(
      layout,
      transB
        ? { LAYOUT_B: 'col_major', OFFSET_B: 'n * p.K + k', STRIDE_B: 'p.K' }
        : { LAYOUT_B: 'row_major', OFFSET_B: 'k * p.N + n', STRIDE_B: 'p.N' },
    );
    const source = src.replace(SHAPE_LINE, line).replace(/\b(LAYOUT|OFFSET|STRIDE)_[AB]\b/g, (w) => layout[w]!);
    spec = kernel({
      name: 'matmul_sgmat_f16',
      source,
      storage: ['read', 'read', 'rw'],
      uniforms: [
        ['M', 'u32'],
        ['N', 'u32'],
        ['K', 'u32'],
      ],
    });
    specs.set(key, spec);
  }
  return spec;
}

export interface SgmatArgs {
  /** Views of f16 tensors (halves; offsets and sizes in bytes as for any view). */
  a: BufferView;
  b: BufferView;
  /** f32 [M,N]. */
  c: BufferView;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
}

/** Records C = op(A)·op(B) on tensor cores; throws, naming what is missing, where the device or shape cannot. */
export function launchMatmulF16(gpu: Gpu, x: SgmatArgs, tile: SgmatTile | null = sgmatTile(gpu)): void {
  if (!tile)
    throw new Error(
      `matmul f16: this device has no f16 → f32 subgroup-matrix config with one subgroup size (${gpu.capabilities.subgroupMatrix.length} configs; subgroup sizes ${gpu.description.subgroupMinSize}–${gpu.description.subgroupMaxSize})`,
    );
  const [BM, BN] = [tileRows(tile), tileCols(tile)];
  if (x.M % BM || x.N % BN || x.K % tile.config.K)
    throw new Error(
      `matmul f16: M ${x.M}, N ${x.N}, K ${x.K} must be multiples of ${BM}, ${BN} and ${tile.config.K} on this device`,
    );
  for (const [v, n, what] of [
    [x.a, x.M * x.K * 2, 'A'],
    [x.b, x.K * x.N * 2, 'B'],
    [x.c, x.M * x.N * 4, 'C'],
  ] as const)
    if (v.size < n) throw new Error(`matmul f16: ${what} holds ${v.size} bytes, the product needs ${n}`);
  gpu.dispatch(
    sgmatKernel(tile, !!x.transA, !!x.transB),
    [x.a, x.b, x.c],
    { M: x.M, N: x.N, K: x.K },
    [x.N / BN, x.M / BM, 1],
    undefined,
    2 * x.M * x.N * x.K,
  );
}
