// LayerNorm over the last dimension (eps 1e-5, biased variance), saving per-row mean and rstd for the backward; and
// RMSNorm (weight only, the Llama family's), the same kernels with their RMS constant set (mean 0, no bias).

import fwdSrc from '../../../shaders/layernorm_forward.wgsl?raw';
import bwdSrc from '../../../shaders/layernorm_backward.wgsl?raw';
import { kernel, grid2d } from '../../gpu/kernel';
import type { BufferView } from '../../gpu/runtime';
import { tape } from '../tape';
import { empty, type Tensor } from '../tensor';
import { assertF32, assertShape, dispatchRows } from './launch';
import { type ColsumJob, COLSUM_TILE, colsumChunks, colsumScratch, launchColsums } from './colsum';
import { toHalfReleasing } from './cast';

export const LAYERNORM_EPS = 1e-5;

export const LAYERNORM_FORWARD = kernel({
  name: 'layernorm_forward',
  source: fwdSrc,
  storage: ['read', 'read', 'read', 'rw', 'rw', 'rw'],
  uniforms: [
    ['rows', 'u32'],
    ['C', 'u32'],
    ['eps', 'f32'],
  ],
});
export const LAYERNORM_BACKWARD = kernel({
  name: 'layernorm_backward',
  source: bwdSrc,
  storage: ['read', 'read', 'read', 'read', 'read', 'rw', 'rw', 'rw'],
  uniforms: [
    ['rows', 'u32'],
    ['C', 'u32'],
    ['dxRows', 'u32'],
  ],
});

const OUT_INCLUDE = /^\/\/#include layernorm_out_f32$/m;
if (!OUT_INCLUDE.test(fwdSrc))
  throw new Error('layernorm_forward.wgsl has no "//#include layernorm_out_f32" line to swap');
/** The forward writing halves (an f16 y): the same kernel with its output include swapped. */
export const LAYERNORM_FORWARD_HALF = kernel({
  ...LAYERNORM_FORWARD,
  name: 'layernorm_forward_f16',
  source: fwdSrc.replace(OUT_INCLUDE, '//#include layernorm_out_f16'),
});

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
 * Accumulates dx (if given) and dw/db (if given) for dy (`rms`: RMSNorm's, whose saved mean is 0 and db absent), all in
 * one dispatch: dx's rows and dw/db's column sums in workgroups of their own. dw/db are deterministic column
 * reductions: per-chunk partials, then one colsum dispatch over both (for parameters, at the end of backward), or
 * accumulated directly when the rows fit one chunk.
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
  const dxRows = dx ? rows : 0;
  const params = (dw || db) && rows > 0 && C > 0;
  if (!dxRows && !params) return;
  const chunks = colsumChunks(rows);
  // PARAMS 1: partial sums per 256-row chunk into scratch; 2: added straight into dw/db (one chunk).
  const mode = !params ? 0 : chunks === 1 ? 2 : 1;
  const scratch: Tensor[] = [];
  const target = (t: Tensor | null, i: number, leaf: boolean): BufferView => {
    if (mode === 0) return gpu.dummyOut(i);
    if (mode === 2 && t) return t.view;
    // Partials (mode 1; a parameter's may wait, in the column sums' arena), or a missing output's sums: scratch.
    const s = mode === 1 && t && leaf ? colsumScratch(gpu, [chunks, C]) : empty(gpu, mode === 1 ? [chunks, C] : [C]);
    scratch.push(s);
    return s.view;
  };
  const dwOut = target(dw, 1, leaves.w);
  const dbOut = target(db, 2, leaves.b);
  const paramWork = mode === 0 ? 0 : Math.ceil(C / COLSUM_TILE) * chunks;
  gpu.dispatch(
    LAYERNORM_BACKWARD,
    [x.view, w.view, dy.view, mean.view, rstd.view, dx ? dx.t.view : gpu.dummyOut(0), dwOut, dbOut],
    { rows, C, dxRows },
    grid2d(dxRows + paramWork, gpu.maxGridX),
    { ACCUMULATE: dx?.accumulate ?? false, RMS: rms, PARAMS: mode },
  );
  if (mode !== 1) {
    for (const t of scratch) t.dispose();
    return;
  }
  // Both sums in one colsum dispatch (the partials handed over), which for parameters waits for the end of backward.
  const [pw, pb] = scratch as [Tensor, Tensor];
  const jobs: ColsumJob[] = [];
  const job = (p: Tensor, out: Tensor, parameter: boolean) =>
    jobs.push({ x: p.view, out: out.view, R: chunks, N: C, accumulate: true, parameter, handOver: p });
  if (dw) job(pw, dw, leaves.w);
  else pw.dispose();
  if (db) job(pb, db, leaves.b);
  else pb.dispose();
  launchColsums(gpu, jobs);
}
