// Muon's GPU pieces: Nesterov momentum, Newton–Schulz quintic orthogonalisation built from matmuls, the update; and
// the step guard every optimizer kernel obeys (a non-finite loss or gradient norm skips the whole update).

import guardSrc from '../../shaders/guard_step.wgsl?raw';
import momentumSrc from '../../shaders/muon_momentum.wgsl?raw';
import updateSrc from '../../shaders/muon_update.wgsl?raw';
import scaleByNormSrc from '../../shaders/scale_by_norm.wgsl?raw';
import { kernel } from '../gpu/kernel';
import type { BufferView, Gpu } from '../gpu/runtime';
import { dispatchElements } from '../tensor/ops/launch';
import { launchMatmul } from '../tensor/ops/matmul';
import { launchReduce } from '../tensor/ops/reduce';
import { launchTranspose } from '../tensor/ops/transpose';
import { empty } from '../tensor/tensor';
import type { LossScaler } from './loss-scale';

export const GUARD_STEP = kernel({
  name: 'guard_step',
  source: guardSrc,
  storage: ['read', 'rw', 'rw', 'rw', 'rw'],
  uniforms: [
    ['scaled', 'u32'],
    ['invAccum', 'f32'],
    ['interval', 'f32'],
    ['minScale', 'f32'],
    ['maxScale', 'f32'],
  ],
});
export const MUON_MOMENTUM = kernel({
  name: 'muon_momentum',
  source: momentumSrc,
  storage: ['read', 'rw', 'rw', 'read'],
  uniforms: [
    ['n', 'u32'],
    ['mu', 'f32'],
    ['nesterov', 'u32'],
    ['scaled', 'u32'],
  ],
});
export const MUON_UPDATE = kernel({
  name: 'muon_update',
  source: updateSrc,
  storage: ['rw', 'read', 'read'],
  uniforms: [
    ['n', 'u32'],
    ['decay', 'f32'],
    ['step', 'f32'],
  ],
});
export const SCALE_BY_NORM = kernel({
  name: 'scale_by_norm',
  source: scaleByNormSrc,
  storage: ['read', 'read', 'rw'],
  uniforms: [
    ['n', 'u32'],
    ['s', 'f32'],
    ['eps', 'f32'],
  ],
});

/** Newton–Schulz quintic coefficients (a, b, c) from Muon. */
export const NS_COEFFS = [3.4445, -4.775, 2.0315] as const;

/** If loss [1] or norm [1] is non-finite, or flag [1] is already set: flag = 1 and norm = NaN (all on the GPU). */
/**
 * The step guard (guard_step.wgsl) over loss [1], norm [2] (the global norm in [0]; [1] is written: the gradients'
 * factor) and the sticky flag [1]; with a loss scaler, its state and seed too (dynamic loss scaling).
 */
export function launchGuard(gpu: Gpu, loss: BufferView, norm: BufferView, flag: BufferView, scaler?: LossScaler): void {
  if (norm.size < 8) throw new Error('guard_step: the norm buffer holds the norm and the gradient factor ([2])');
  const c = scaler?.config;
  gpu.dispatch(
    GUARD_STEP,
    [loss, norm, flag, scaler?.state.view ?? gpu.dummyOut(0), scaler?.seed.view ?? gpu.dummyOut(1)],
    {
      scaled: scaler ? 1 : 0,
      invAccum: scaler?.invAccum ?? 1,
      interval: c?.interval ?? 1,
      minScale: c?.min ?? 1,
      maxScale: c?.max ?? 1,
    },
    [1],
  );
}

/** buf = μ·buf + g; update = g + μ·buf (Nesterov) or buf. Skipped (update = 0) when gradNorm [1] is non-finite. */
export function launchMuonMomentum(
  gpu: Gpu,
  grad: BufferView,
  buf: BufferView,
  update: BufferView,
  n: number,
  mu: number,
  nesterov = true,
  gradNorm?: BufferView,
  scaled = false,
): void {
  if (scaled && !gradNorm) throw new Error('Muon momentum: loss-scaled gradients need the guard’s norm buffer');
  dispatchElements(
    gpu,
    MUON_MOMENTUM,
    [grad, buf, update, gradNorm ?? gpu.dummy],
    { n, mu, nesterov: nesterov ? 1 : 0, scaled: scaled ? 1 : 0 },
    n,
  );
}

/** Floats between matrices of a Newton–Schulz batch: R·C rounded up so each matrix starts on a 256-byte binding offset. */
export function nsStride(R: number, C: number): number {
  return Math.ceil((R * C) / 64) * 64;
}

/**
 * Orthogonalises `batch` matrices G_l [R, C] into out_l (they may not alias) with `steps` Newton–Schulz quintic
 * iterations, working on the transpose when R > C so the Gram matrix is the small side. Matrix l starts `stride`
 * floats into G and out (for batch > 1, nsStride(R, C) or any multiple of 64). The matmuls of an iteration run once
 * for the whole batch; normalisation and transposes are per matrix.
 */
export function newtonSchulz(
  gpu: Gpu,
  G: BufferView,
  out: BufferView,
  R: number,
  C: number,
  steps = 5,
  batch = 1,
  stride = R * C,
): void {
  const [a, b, c] = NS_COEFFS;
  const tall = R > C;
  const r = tall ? C : R;
  const k = tall ? R : C;
  const n = R * C;
  if (stride < n || (batch > 1 && stride % 64 !== 0))
    throw new Error(
      `newtonSchulz: stride ${stride} for ${R}×${C} matrices (needs ≥ ${n}, a multiple of 64 when batched)`,
    );
  const total = batch * stride;
  const mat = (v: BufferView, l: number): BufferView => ({
    buffer: v.buffer,
    offset: v.offset + l * stride * 4,
    size: n * 4,
  });
  let X = empty(gpu, [total]);
  let Xn = empty(gpu, [total]);
  const A = empty(gpu, [batch * r * r]);
  const Bm = empty(gpu, [batch * r * r]);
  const norm = empty(gpu, [batch * 64]); // one norm per 256 bytes: each is bound on its own
  // Wide matrices are used as they are: one copy for the whole batch (padding between matrices included).
  const span = ((batch - 1) * stride + n) * 4;
  if (!tall) gpu.copy(G, Xn.view, span);
  for (let l = 0; l < batch; l++) {
    if (tall) launchTranspose(gpu, mat(G, l), mat(Xn.view, l), R, C);
    const nl = norm.range(l * 64, 1);
    launchReduce(gpu, [{ view: mat(Xn.view, l), n }], nl, { square: true, sqrt: true });
    dispatchElements(gpu, SCALE_BY_NORM, [mat(Xn.view, l), nl, mat(X.view, l)], { n, s: 1, eps: 1e-7 }, n);
  }
  const xs = { strideA: stride, strideB: stride, batch };
  for (let s = 0; s < steps; s++) {
    // A = X·Xᵀ;  B = b·A + c·A·A;  X ← a·X + B·X
    launchMatmul(gpu, { a: X.view, b: X.view, c: A.view, M: r, N: r, K: k, transB: true, ...xs });
    gpu.copy(A.view, Bm.view, batch * r * r * 4);
    launchMatmul(gpu, { a: A.view, b: A.view, c: Bm.view, M: r, N: r, K: r, alpha: c, beta: b, batch });
    gpu.copy(X.view, Xn.view, total * 4);
    launchMatmul(gpu, {
      a: Bm.view,
      b: X.view,
      c: Xn.view,
      M: r,
      N: k,
      K: r,
      beta: a,
      batch,
      strideA: r * r,
      strideB: stride,
      strideC: stride,
    });
    [X, Xn] = [Xn, X];
  }
  if (tall) for (let l = 0; l < batch; l++) launchTranspose(gpu, mat(X.view, l), mat(out, l), r, k);
  else gpu.copy(X.view, out, span);
  for (const t of [X, Xn, A, Bm, norm]) t.dispose();
}

/**
 * Muon's shape factor max(1, rows/cols)^0.5 for a matrix of `rows` outputs and `cols` inputs (PyTorch's [out, in]
 * orientation, which Muon's reference code uses; our Conv1D weights are stored [in, out]).
 */
export function muonScale(rows: number, cols: number): number {
  return Math.sqrt(Math.max(1, rows / cols));
}

/** p ← p·(1 − lr·wd) − lr·scale·O; skipped when gradNorm [1] is non-finite. */
export function launchMuonUpdate(
  gpu: Gpu,
  param: BufferView,
  ortho: BufferView,
  n: number,
  lr: number,
  wd: number,
  scale: number,
  gradNorm?: BufferView,
): void {
  dispatchElements(
    gpu,
    MUON_UPDATE,
    [param, ortho, gradNorm ?? gpu.dummy],
    { n, decay: 1 - lr * wd, step: lr * scale },
    n,
  );
}
