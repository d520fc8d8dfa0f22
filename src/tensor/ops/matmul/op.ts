// The matmul op on the tape: C = alpha·op(A)·op(B) (+ bias) (+ residual), 2-D or batched, any transpose combination,
// and matmulGelu (GELU fused into the product's store). Shapes are checked here; the launcher does the rest.

import { tape } from '../../tape';
import { empty, type Tensor } from '../../tensor';
import { toHalfReleasing } from '../cast';
import { assertF32 } from '../launch';
import { launchMatmul } from './launch';

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
    // Backward forms dB from A as the kernel's A: with transB that takes a 2-D B and an untransposed A.
    if (transB && (transA || b.shape.length !== 2))
      throw new Error('matmul: an f16 A with transB needs an untransposed A and a 2-D B');
  } else assertF32(a, 'matmul A');
  if (b.dtype !== 'f16') assertF32(b, 'matmul B');
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
    halfB: b.dtype === 'f16',
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
 * linear layer). A may be an f16 tensor (half-precision activations), with transB only for a 2-D B and an
 * untransposed A (B's gradient is then formed transposed); B may be an f16 tensor (f16-mixed training's weight copy:
 * backward then rounds the output gradient to halves for its products). A residual is added by the kernel as it
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
