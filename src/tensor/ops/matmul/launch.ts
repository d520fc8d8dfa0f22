// The matmul launcher over raw views: picks the variant (forced, the device's tuned choice for the shape, or `simple`),
// the operands' storage and the epilogue, and runs split-K products as parts plus a fixed-order column sum. Used by the
// autograd op, the backward rules, the tied head and Muon's Newton–Schulz iteration.

import type { BufferView, Gpu } from '../../../gpu/runtime';
import { empty } from '../../tensor';
import { type ColsumJob, colsumScratch, launchColsums } from '../colsum';
import {
  isV4,
  type MatmulEpilogue,
  type MatmulVariant,
  matmulKernel,
  SPECS,
  variantsFor,
  vec4Eligible,
} from './kernels';
import {
  describeTile,
  type SgmatTile,
  sgmatFits,
  sgmatKernel,
  sgmatTile,
  sgmatWorkgroupBytes,
  tileCols,
  tileRows,
} from './sgmat';
import { splitK } from './splitk';

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
  /** B holds halves (f16-mixed training's weight copies and rounded gradients); offsets and strides count halves. */
  halfB?: boolean;
  /** C += R as it is stored (R: C's size; beta must be 0). */
  residual?: BufferView | null;
  /** G = GELU(C) as C is stored (G: C's size; beta must be 0); C keeps the pre-activation. */
  gelu?: BufferView | null;
  /** G holds halves (an f16 tensor's view); needs an even N and no batch. */
  geluHalf?: boolean;
  /**
   * A column sum independent of this product (it reads nothing C is): recorded beside the product's split-K sum, in
   * the same dispatches, else after the product. The backward rule gives a weight gradient its bias gradient here.
   */
  alsoColsum?: ColsumJob | null;
  /** C is a parameter's gradient (a leaf's), added to (beta 1): its split-K sum may wait inside a backward pass. */
  cParameter?: boolean;
  /**
   * Run on this tensor-core tile (A and B must both be halves and the dimensions fit it), e.g. an emulated one on a
   * device without subgroup matrices (self-checks); default: the device's own tile, where it has one.
   */
  tensorCoreTile?: SgmatTile;
}

/** The dimensions that pick a matmul's kernel variant (its key in the device's KernelChoices). */
export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  batch: number;
  transA: boolean;
  transB: boolean;
}

/** A shape in words, e.g. "1×33×70×20 tB" (batch×M×N×K). */
export const matmulShapeKey = (s: MatmulShape): string =>
  `${s.batch}×${s.M}×${s.N}×${s.K}${s.transA ? ' tA' : ''}${s.transB ? ' tB' : ''}`;

/** Matmul shapes' keys in the device's KernelChoices (shared with other tunable kernels). */
export const MATMUL_CHOICE = 'matmul ';

/** The device's tuned variant for this shape, else `simple` (queuing the shape for timing where tuning is on). */
function chosenVariant(gpu: Gpu, shape: MatmulShape): MatmulVariant {
  const chosen = gpu.kernelChoices.lookup(MATMUL_CHOICE + matmulShapeKey(shape), { ...shape });
  return (chosen as MatmulVariant | undefined) ?? untunedVariant(gpu, shape);
}

/** Multiply-adds from which an untuned product takes the register-tiled kernel. */
const LARGE_PRODUCT = 2 ** 24;

/**
 * The variant for a shape nothing has timed (a software adapter, where tuning is off, or a shape not yet tuned): the
 * 64-wide register-tiled kernel for large products, the simple one otherwise (the register-tiled kernels take
 * seconds to compile on a software adapter, which a small product does not repay). On SwiftShader a head product
 * 1024×32000×128 took 7.0 s with reg64 and 39.8 s with simple (reg128 8.3 s, reg128v4 10.5 s, the K16 ones 17-22 s).
 * The variants are bit-identical, so this changes speed, never results.
 */
function untunedVariant(gpu: Gpu, s: MatmulShape): MatmulVariant {
  const large = s.batch * s.M * s.N * s.K >= LARGE_PRODUCT;
  return large && variantsFor(gpu, s).includes('reg64') ? 'reg64' : 'simple';
}

/** The tensor-core kernel's workgroups: one per tile of C (the dimensions fit: sgmatFits), per batch entry or part. */
const sgmatGrid = (t: SgmatTile, x: { M: number; N: number }, z: number): [number, number, number] => [
  x.N / tileCols(t),
  x.M / tileRows(t),
  z,
];

/**
 * Records C[b] = alpha·op(A[b])·op(B[b]) + bias + beta·C[b] over raw views. A product of two f16 operands with no
 * kernel forced runs on tensor cores where the device has them and its dimensions fit the tile (sgmat.ts); the
 * result then differs from the f32 kernels' by the order of the f32 sums.
 */
export function launchMatmul(gpu: Gpu, x: MatmulArgs): void {
  const batch = x.batch ?? 1;
  const split = splitK(x);
  // Both operands halves (f16-mixed training's block products), no kernel forced: tensor cores where the tile fits.
  // A tile the caller names must run: refused, saying why, where it cannot.
  const forced = x.tensorCoreTile ?? null;
  if (forced && (!x.halfA || !x.halfB || x.variant))
    throw new Error('matmul: a tensor-core tile takes two f16 operands and no f32 kernel variant');
  const tc = forced ?? (x.halfA && x.halfB && !x.variant ? sgmatTile(gpu) : null);
  const onTensorCores = !!tc && sgmatFits(tc, x, split?.kChunk ?? 0, gpu.limits.maxComputeWorkgroupStorageSize);
  if (forced && !onTensorCores)
    throw new Error(
      `matmul: the tensor-core tile (${describeTile(forced)}, ${sgmatWorkgroupBytes(forced)} bytes of workgroup memory) does not fit M ${x.M}, N ${x.N}, K ${x.K}${split ? ` in K chunks of ${split.kChunk}` : ''} on this device`,
    );
  let variant: MatmulVariant = onTensorCores
    ? 'simple'
    : (x.variant ?? chosenVariant(gpu, { M: x.M, N: x.N, K: x.K, batch, transA: !!x.transA, transB: !!x.transB }));
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
  const spec = onTensorCores ? sgmatKernel(tc!, epilogue) : matmulKernel(variant, !!x.halfA, epilogue, !!x.halfB);
  if (!onTensorCores && workgroupBytes > gpu.limits.maxComputeWorkgroupStorageSize)
    throw new Error(
      `matmul: ${variant} needs ${workgroupBytes} bytes of workgroup memory; this adapter allows ${gpu.limits.maxComputeWorkgroupStorageSize} (maxComputeWorkgroupStorageSize)`,
    );
  const MN = x.M * x.N;
  // Split-K: part z's sum goes to row z of a [parts, M·N] scratch, then C = (beta 0) or += (beta 1) the column sums.
  // A parameter's parts (their sum may wait for the end of backward) go to the column sums' arena where it has room.
  const partial = split && (x.cParameter ? colsumScratch : empty)(gpu, [split.parts, MN]);
  const uniforms = split
    ? { strideA: 0, strideB: 0, strideC: MN, beta: 0, kChunk: split.kChunk }
    : {
        strideA: x.strideA ?? x.M * x.K,
        strideB: x.strideB ?? x.K * x.N,
        strideC: x.strideC ?? MN,
        beta: x.beta ?? 0,
        kChunk: 0,
      };
  try {
    gpu.dispatch(
      spec,
      [x.a, x.b, x.bias ?? gpu.dummy, partial ? partial.view : x.c, ...(extra ? [extra] : [])],
      { M: x.M, N: x.N, K: x.K, alpha: x.alpha ?? 1, ...uniforms },
      onTensorCores
        ? sgmatGrid(tc!, x, split ? split.parts : batch)
        : [Math.ceil(x.N / tile), Math.ceil(x.M / tile), split ? split.parts : batch],
      { TRANS_A: !!x.transA, TRANS_B: !!x.transB, HAS_BIAS: !!x.bias },
      2 * x.M * x.N * x.K * batch,
    );
  } catch (e) {
    partial?.dispose();
    throw e;
  }
  const also = x.alsoColsum ? [x.alsoColsum] : [];
  if (!partial) {
    launchColsums(gpu, also);
    return;
  }
  // The parts' sum is written over C (beta 0: C is not read) or added to it (beta 1); the parts are handed over.
  const sum: ColsumJob = {
    x: partial.view,
    out: { ...x.c, size: MN * 4 },
    R: split!.parts,
    N: MN,
    accumulate: x.beta === 1,
    parameter: !!x.cParameter,
    handOver: partial,
  };
  launchColsums(gpu, [sum, ...also]);
}

export interface MatmulF16Args {
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
  /** A tile to run instead of the device's (the benchmark's K-loop comparison). */
  tensorCoreTile?: SgmatTile;
}

/**
 * Records C = op(A)·op(B) of two f16 operands on tensor cores, as training runs it (the benchmark's kernel cases);
 * throws, naming what is missing, where the device or the dimensions cannot (launchMatmul would fall back to the f32
 * kernels).
 */
export function launchMatmulF16(gpu: Gpu, x: MatmulF16Args): void {
  const tile = x.tensorCoreTile ?? sgmatTile(gpu);
  if (!tile)
    throw new Error(
      `matmul f16: this device has no f16 → f32 subgroup-matrix config with one subgroup size (${gpu.capabilities.subgroupMatrix.length} configs; subgroup sizes ${gpu.description.subgroupMinSize}–${gpu.description.subgroupMaxSize})`,
    );
  if (!sgmatFits(tile, x, splitK(x)?.kChunk ?? 0, gpu.limits.maxComputeWorkgroupStorageSize))
    throw new Error(
      `matmul f16: M ${x.M}, N ${x.N}, K ${x.K} must be multiples of ${tileRows(tile)}, ${tileCols(tile)} and ${tile.config.K} on this device`,
    );
  for (const [v, n, what] of [
    [x.a, x.M * x.K * 2, 'A'],
    [x.b, x.K * x.N * 2, 'B'],
    [x.c, x.M * x.N * 4, 'C'],
  ] as const)
    if (v.size < n) throw new Error(`matmul f16: ${what} holds ${v.size} bytes, the product needs ${n}`);
  launchMatmul(gpu, { ...x, halfA: true, halfB: true });
}
