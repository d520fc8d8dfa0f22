// The tensor-core matmul (shaders/matmul_sgmat.wgsl): f16 A and B on subgroup matrices with f32 accumulation, under
// the f32 kernels' whole contract (alpha, bias, beta, batch strides, split-K parts, every epilogue), for adapters that
// offer an f16 → f32 subgroup-matrix config and one subgroup size. launchMatmul sends it every product whose operands
// are both halves and whose dimensions fit the tile (f16-mixed training's block products).
// Its sums are f32 accumulations of exact f16 × f16 products in the hardware's order, so it agrees with the f32
// kernels on the same halves to within f32 rounding of the sums, not bit for bit; every tile adds an output's K
// products in the same order (K steps in turn), so a run stays deterministic on its device.
// Tests run the same kernel with the subgroup-matrix calls emulated in plain arithmetic (GpuOptions.emulateTensorCores),
// so its tiling, addressing and epilogues are checked on adapters without subgroup matrices.

import src from '../../../../shaders/matmul_sgmat.wgsl?raw';
import type { SubgroupMatrixConfig } from '../../../gpu/capabilities';
import { kernel, type KernelSpec } from '../../../gpu/kernel';
import type { Gpu } from '../../../gpu/runtime';
import { MATMUL_UNIFORMS } from './kernels';

export interface SgmatTile {
  config: SubgroupMatrixConfig;
  /** Result matrices per subgroup along M and N, and subgroups per workgroup along M and N. */
  FM: number;
  FN: number;
  SGM: number;
  SGN: number;
  /** The subgroup size the kernel is built for (the adapter's only one; EMULATED_SUBGROUP when emulated). */
  sgSize: number;
  /** The subgroup-matrix calls are emulated (tests): matmul_sgmat_emulated.wgsl instead of the builtins. */
  emulated: boolean;
  /**
   * The K loop: straight from storage (0: matmul_sgmat_direct, the default until a GPU has measured the other) or
   * through workgroup memory in K slices of this many (matmul_sgmat_staged; a multiple of the config's K).
   */
  stageK: number;
}

/** The invocations an emulated "subgroup" has (each computes the subgroup's matrices whole). */
export const EMULATED_SUBGROUP = 4;

/** Rows and columns of C one workgroup computes. */
export const tileRows = (t: SgmatTile) => t.SGM * t.FM * t.config.M;
export const tileCols = (t: SgmatTile) => t.SGN * t.FN * t.config.N;

const tiles = new WeakMap<object, SgmatTile | null>();

/**
 * The tile for this device, or null where the kernel cannot run: tensor cores off or absent (Gpu.tensorCoreConfig),
 * or subgroups of more than one size (the kernel counts its subgroups at compile time). Each subgroup holds a 32×32
 * part of C (or one config's worth if larger), 2 × 2 subgroups per workgroup, within the invocation limit.
 */
export function sgmatTile(
  gpu: Pick<Gpu, 'tensorCoreConfig' | 'tensorCoresEmulated' | 'description' | 'device'> & {
    tensorCoreStaging?: boolean;
  },
): SgmatTile | null {
  let tile = tiles.get(gpu);
  if (tile !== undefined) return tile;
  const config = gpu.tensorCoreConfig;
  const { subgroupMinSize: lo, subgroupMaxSize: hi } = gpu.description;
  const maxInvocations = gpu.device.limits.maxComputeInvocationsPerWorkgroup;
  if (!config) tile = null;
  else if (gpu.tensorCoresEmulated) tile = tileFor(config, EMULATED_SUBGROUP, maxInvocations, true);
  else tile = lo > 0 && lo === hi ? tileFor(config, hi, maxInvocations) : null;
  if (tile && gpu.tensorCoreStaging) tile = stagedTile(tile);
  tiles.set(gpu, tile);
  return tile;
}

/** Turns the device's tile off (verifyTensorCores found it wrong): its f16 products go to the FP32 kernels. */
export function disableTensorCores(gpu: object): void {
  tiles.set(gpu, null);
}

/** The tile for a config and subgroup size under an invocation limit (exported for the compile test). */
export function tileFor(
  config: SubgroupMatrixConfig,
  sgSize: number,
  maxInvocations: number,
  emulated = false,
): SgmatTile | null {
  const per = (x: number) => Math.max(1, Math.floor(32 / x));
  let SGM = 2;
  let SGN = 2;
  while (SGM * SGN * sgSize > maxInvocations && SGN > 1) SGN--;
  while (SGM * SGN * sgSize > maxInvocations && SGM > 1) SGM--;
  if (SGM * SGN * sgSize > maxInvocations) return null;
  return { config, FM: per(config.M), FN: per(config.N), SGM, SGN, sgSize, emulated, stageK: 0 };
}

/** The tile in words, e.g. "f16 16×16×16 → f32, 64×64 per workgroup, subgroup 32" (emulated, staged: says so). */
export const describeTile = (t: SgmatTile): string =>
  `${t.config.componentType} ${t.config.M}×${t.config.N}×${t.config.K} → ${t.config.resultComponentType}, ${tileRows(t)}×${tileCols(t)} per workgroup, ${t.emulated ? 'emulated' : `subgroup ${t.sgSize}`}${t.stageK ? `, K slices of ${t.stageK} in workgroup memory` : ''}`;

/** The same tile with its K loop through workgroup memory in slices of `stageK` (a multiple of the config's K). */
export function stagedTile(t: SgmatTile, stageK = 2 * t.config.K): SgmatTile {
  if (!(stageK > 0 && stageK % t.config.K === 0))
    throw new Error(`tensor-core K slices of ${stageK}: not a positive multiple of the config's K ${t.config.K}`);
  return { ...t, stageK };
}

const SHAPE_LINE = /^const SM: u32 = \d+u;.*$/m;
const HW_INCLUDE = /^\/\/#include matmul_sgmat_hw$/m;
const OUT_INCLUDE = /^\/\/#include matmul_out$/m;
const LOOP_INCLUDE = /^\/\/#include matmul_sgmat_direct$/m;
const STORAGE: KernelSpec['storage'] = ['read', 'read', 'read', 'rw'];

/** The epilogues matmul_sgmat takes (the f32 kernels' output includes: see kernels.ts). */
export type SgmatEpilogue = 'none' | 'residual' | 'gelu' | 'gelu_f16';
const EPILOGUE_LIBS: Record<SgmatEpilogue, { lib: string; extra: 'read' | 'rw' | null }> = {
  none: { lib: 'matmul_out', extra: null },
  residual: { lib: 'matmul_out_residual', extra: 'read' },
  gelu: { lib: 'matmul_out_gelu', extra: 'rw' },
  gelu_f16: { lib: 'matmul_out_gelu_f16', extra: 'rw' },
};
const specs = new Map<string, KernelSpec>();

/** The kernel for a tile and epilogue: its constants line written in, the emulated calls where the tile says so. */
export function sgmatKernel(t: SgmatTile, epilogue: SgmatEpilogue = 'none'): KernelSpec {
  const { M, N, K } = t.config;
  const key = `${M}×${N}×${K}:${t.FM}×${t.FN}:${t.SGM}×${t.SGN}:${t.sgSize}:${t.emulated}:${t.stageK}:${epilogue}`;
  let spec = specs.get(key);
  if (!spec) {
    for (const [re, what] of [
      [SHAPE_LINE, 'its constants line'],
      [HW_INCLUDE, '//#include matmul_sgmat_hw'],
      [OUT_INCLUDE, '//#include matmul_out'],
      [LOOP_INCLUDE, '//#include matmul_sgmat_direct'],
    ] as const)
      if (!re.test(src)) throw new Error(`matmul_sgmat.wgsl lacks ${what}`);
    const line = `const SM: u32 = ${M}u; const SN: u32 = ${N}u; const SK: u32 = ${K}u; const FM: u32 = ${t.FM}u; const FN: u32 = ${t.FN}u; const SGM: u32 = ${t.SGM}u; const SGN: u32 = ${t.SGN}u; const SGSIZE: u32 = ${t.sgSize}u; const TK: u32 = ${t.stageK || K}u;`;
    const { lib, extra } = EPILOGUE_LIBS[epilogue];
    const source = src
      .replace(SHAPE_LINE, line)
      .replace(HW_INCLUDE, t.emulated ? '//#include matmul_sgmat_emulated' : '//#include matmul_sgmat_hw')
      .replace(OUT_INCLUDE, `//#include ${lib}`)
      .replace(LOOP_INCLUDE, t.stageK ? '//#include matmul_sgmat_staged' : '//#include matmul_sgmat_direct');
    spec = kernel({
      name: epilogue === 'none' ? 'matmul_sgmat' : `matmul_sgmat+${epilogue}`,
      source,
      storage: extra ? [...STORAGE, extra] : STORAGE,
      uniforms: MATMUL_UNIFORMS,
    });
    specs.set(key, spec);
  }
  return spec;
}

/**
 * Workgroup memory the kernel takes: one row of subgroups' part of the block of C (staged for the epilogue, a row at
 * a time), and the staged loop's K slices of A and B (halves; widened to f32 where emulated).
 */
export const sgmatWorkgroupBytes = (t: SgmatTile) =>
  t.FM * t.config.M * tileCols(t) * 4 + (t.stageK ? (tileRows(t) + tileCols(t)) * t.stageK * (t.emulated ? 4 : 2) : 0);

/**
 * Whether the tile can compute a product of these dimensions: M and N whole tiles, K (and a split's chunk) whole K
 * steps, and the staged block within the workgroup memory limit.
 */
export function sgmatFits(
  t: SgmatTile,
  x: { M: number; N: number; K: number },
  kChunk: number,
  maxWorkgroupBytes: number,
): boolean {
  return (
    x.M > 0 &&
    x.N > 0 &&
    x.M % tileRows(t) === 0 &&
    x.N % tileCols(t) === 0 &&
    x.K % t.config.K === 0 &&
    kChunk % t.config.K === 0 &&
    sgmatWorkgroupBytes(t) <= maxWorkgroupBytes
  );
}
