// LayerNorm over the last dimension (eps 1e-5, biased variance), saving per-row mean and rstd for the backward; and
// RMSNorm (weight only, the Llama family's), the same kernels with their RMS constant set (mean 0, no bias).

import fwdSrc from '../../../shaders/layernorm_forward.wgsl?raw';
import bwdSrc from '../../../shaders/layernorm_backward.wgsl?raw';
import bwdParamsSrc from '../../../shaders/layernorm_backward_params.wgsl?raw';
import type { KernelSpec } from '../../gpu/kernel';
import { tape } from '../tape';
import { empty, type Tensor } from '../tensor';
import { assertF32, assertShape, dispatchRows } from './launch';
import { type ColsumJob, colsumChunks, colsumGrid, launchColsums } from './colsum';
import { toHalfReleasing } from './cast';

export const LAYERNORM_EPS = 1e-5;

export const LAYERNORM_FORWARD: KernelSpec = {
  name: 'layernorm_forward',
  source: fwdSrc,
  storage: ['read', 'read', 'read', 'rw', 'rw', 'rw'],
  uniforms: [
    ['rows', 'u32'],
    ['C', 'u32'],
    ['eps', 'f32'],
  ],
};
export const LAYERNORM_BACKWARD: KernelSpec = {
  name: 'layernorm_backward',
  source: bwdSrc,
  storage: ['read', 'read', 'read', 'read', 'read', 'rw'],
  uniforms: [
    ['rows', 'u32'],
    ['C', 'u32'],
  ],
};
export const LAYERNORM_BACKWARD_PARAMS: KernelSpec = {
  name: 'layernorm_backward_params',
  source: bwdParamsSrc,
  storage: ['read', 'read', 'read', 'read', 'rw', 'rw'],
  uniforms: [
    ['rows', 'u32'],
    ['C', 'u32'],
  ],
};

const OUT_INCLUDE = /^\/\/#include layernorm_out_f32$/m;
if (!OUT_INCLUDE.test(fwdSrc))
  throw new Error('layernorm_forward.wgsl has no "//#include layernorm_out_f32" line to swap');
/** The forward writing halves (an f16 y): the same kernel with its output include swapped. */
export const LAYERNORM_FORWARD_HALF: KernelSpec = {
  ...LAYERNORM_FORWARD,
  name: 'layernorm_forward_f16',
  source: fwdSrc.replace(OUT_INCLUDE, '//#include layernorm_out_f16'),
};

/**
 * x [..., C], w [C], b [C] → y [..., C]. `half`: y is an f16 tensor, rounded as toHalf rounds (half-precision
 * activations), written by the kernel itself where C is even (whole words per row), else rounded by toHalf after. Its
 * gradient is f32 like every gradient, and the rounding's is taken as the identity.
 */
export function layernorm(x: Tensor, w: Tensor, b: Tensor, opts: { half?: boolean } = {}): Tensor {
  assertF32(x, 'layernorm');
  const C = x.shape[x.shape.length - 1]!;
  assertShape(w, [C], 'layernorm weight');
  assertShape(b, [C], 'layernorm bias');
  if (opts.half && C % 2 !== 0) return toHalfReleasing(layernorm(x, w, b));
  const rows = x.size / C;
  const gpu = x.gpu;
  const y = empty(gpu, x.shape, opts.half ? 'f16' : 'f32');
  const mean = empty(gpu, [rows]);
  const rstd = empty(gpu, [rows]);
  const spec = opts.half ? LAYERNORM_FORWARD_HALF : LAYERNORM_FORWARD;
  dispatchRows(
    gpu,
    spec,
    [x.view, w.view, b.view, y.view, mean.view, rstd.view],
    { rows, C, eps: LAYERNORM_EPS },
    rows,
  );
  tape.record('layernorm', [x, w, b], [y], { rows, C, mean, rstd }, [mean, rstd]);
  return y;
}

/**
 * RMSNorm over the last dimension: y = x·rsqrt(mean(x²) + eps)·w, x [..., C], w [C]. Qwen3's per-head q/k norm is
 * this over x reshaped to [..., D]. `half` as for layernorm.
 */
export function rmsnorm(x: Tensor, w: Tensor, eps: number, opts: { half?: boolean } = {}): Tensor {
  assertF32(x, 'rmsnorm');
  const C = x.shape[x.shape.length - 1]!;
  assertShape(w, [C], 'rmsnorm weight');
  if (!(eps >= 0)) throw new Error(`rmsnorm: eps must be a non-negative number, got ${eps}`);
  if (opts.half && C % 2 !== 0) return toHalfReleasing(rmsnorm(x, w, eps));
  const rows = x.size / C;
  const gpu = x.gpu;
  const y = empty(gpu, x.shape, opts.half ? 'f16' : 'f32');
  const mean = empty(gpu, [rows]); // written 0: the backward kernels then read x̂ = x·rstd
  const rstd = empty(gpu, [rows]);
  const spec = opts.half ? LAYERNORM_FORWARD_HALF : LAYERNORM_FORWARD;
  // The bias binding is not read with RMS: the weight stands in.
  dispatchRows(gpu, spec, [x.view, w.view, w.view, y.view, mean.view, rstd.view], { rows, C, eps }, rows, {
    RMS: true,
  });
  tape.record('rmsnorm', [x, w], [y], { rows, C, mean, rstd }, [mean, rstd]);
  return y;
}

/**
 * Accumulates dx (if given) and dw/db (if given) for dy (`rms`: RMSNorm's, whose saved mean is 0 and db absent). dw/db are deterministic column reductions: per-chunk
 * partials (layernorm_backward_params) then one colsum dispatch over both, or one accumulating pass when rows fit one chunk.
 */
export function layernormBackward(
  x: Tensor,
  w: Tensor,
  dy: Tensor,
  mean: Tensor,
  rstd: Tensor,
  dx: { t: Tensor; accumulate: boolean } | null,
  dw: Tensor | null,
  db: Tensor | null,
  rows: number,
  C: number,
  rms = false,
  /** The weight and bias are parameters (leaves): their gradients' last sum may wait for the end of backward. */
  leaves: { w: boolean; b: boolean } = { w: false, b: false },
): void {
  const gpu = x.gpu;
  if (dx)
    dispatchRows(
      gpu,
      LAYERNORM_BACKWARD,
      [x.view, w.view, dy.view, mean.view, rstd.view, dx.t.view],
      { rows, C },
      rows,
      { ACCUMULATE: dx.accumulate, RMS: rms },
    );
  if ((dw || db) && rows > 0 && C > 0) {
    const ins = [x.view, dy.view, mean.view, rstd.view];
    const grid = colsumGrid(gpu, rows, C);
    const chunks = colsumChunks(rows);
    if (chunks === 1) {
      // Both outputs are written by one kernel; a missing one goes to scratch.
      const scratch = !dw || !db ? empty(gpu, [C]) : null;
      gpu.dispatch(
        LAYERNORM_BACKWARD_PARAMS,
        [...ins, (dw ?? scratch!).view, (db ?? scratch!).view],
        { rows, C },
        grid,
        { PARTIAL: false },
      );
      scratch?.dispose();
      return;
    }
    const pw = empty(gpu, [chunks, C]);
    const pb = empty(gpu, [chunks, C]);
    gpu.dispatch(LAYERNORM_BACKWARD_PARAMS, [...ins, pw.view, pb.view], { rows, C }, grid, { PARTIAL: true });
    // Both sums in one dispatch (the partials handed over), which for parameters waits for the end of backward.
    const jobs: ColsumJob[] = [];
    const job = (p: Tensor, out: Tensor, parameter: boolean) =>
      jobs.push({ x: p.view, out: out.view, R: chunks, N: C, accumulate: true, parameter, handOver: p });
    if (dw) job(pw, dw, leaves.w);
    else pw.dispose();
    if (db) job(pb, db, leaves.b);
    else pb.dispose();
    launchColsums(gpu, jobs);
  }
}
