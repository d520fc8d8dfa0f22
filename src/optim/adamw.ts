// The fused AdamW kernel over a flat range of parameters (clipping factor read from a GPU-side global norm).

import src from '../../shaders/adamw.wgsl?raw';
import halfSrc from '../../shaders/adamw_half.wgsl?raw';
import { kernel } from '../gpu/kernel';
import type { BufferView, Gpu } from '../gpu/runtime';
import { dispatchElements } from '../tensor/ops/launch';

export const ADAMW = kernel({
  name: 'adamw',
  source: src,
  storage: ['rw', 'read', 'rw', 'rw', 'read'],
  uniforms: [
    ['n', 'u32'],
    ['lr', 'f32'],
    ['beta1', 'f32'],
    ['beta2', 'f32'],
    ['eps', 'f32'],
    ['wd', 'f32'],
    ['bc1', 'f32'],
    ['bc2', 'f32'],
    ['maxNorm', 'f32'],
    ['scaled', 'u32'],
  ],
});

/** AdamW that also writes the updated values as halves into an f16 weight copy (f16-mixed training). */
export const ADAMW_HALF = kernel({
  ...ADAMW,
  name: 'adamw_half',
  source: halfSrc,
  storage: [...ADAMW.storage, 'rw'],
});

export interface AdamWStep {
  param: BufferView;
  grad: BufferView;
  m: BufferView;
  v: BufferView;
  n: number;
  /** 1-based step number (bias corrections). */
  step: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  wd: number;
  /** Global norm of all gradients ([1] on the GPU) and the clip threshold; omit both for no clipping. */
  gradNorm?: BufferView | null;
  maxNorm?: number;
  /** The gradients are loss-scaled: multiply them by gradNorm[1] (guard_step's 1/scale). Needs gradNorm. */
  scaled?: boolean;
  /** The f16 copy of these n parameters (a view of halves starting at the first), rewritten from the new values. */
  half?: BufferView | null;
}

export function launchAdamW(gpu: Gpu, s: AdamWStep): void {
  if (!(s.step >= 1)) throw new Error(`AdamW step must be ≥ 1, got ${s.step}`);
  const clip = s.gradNorm && s.maxNorm ? s.maxNorm : 0;
  if (s.scaled && !s.gradNorm) throw new Error('AdamW: loss-scaled gradients need the guard’s norm buffer');
  dispatchElements(
    gpu,
    s.half ? ADAMW_HALF : ADAMW,
    [s.param, s.grad, s.m, s.v, s.gradNorm ?? gpu.dummy, ...(s.half ? [s.half] : [])],
    {
      n: s.n,
      lr: s.lr,
      beta1: s.beta1,
      beta2: s.beta2,
      eps: s.eps,
      wd: s.wd,
      bc1: 1 - s.beta1 ** s.step,
      bc2: 1 - s.beta2 ** s.step,
      maxNorm: clip,
      scaled: s.scaled ? 1 : 0,
    },
    s.half ? Math.ceil(s.n / 2) : s.n,
  );
}
