// Elementwise ops: residual add, scale, GELU (tanh form), and the axpby that backward adds and copies gradients with.

import addSrc from '../../../shaders/add.wgsl?raw';
import axpbySrc from '../../../shaders/axpby.wgsl?raw';
import geluFwdSrc from '../../../shaders/gelu_forward.wgsl?raw';
import geluBwdSrc from '../../../shaders/gelu_backward.wgsl?raw';
import type { BufferView, Gpu } from '../../gpu/runtime';
import { kernel } from '../../gpu/kernel';
import { tape, type GradSlot } from '../tape';
import { empty, type Tensor } from '../tensor';
import { assertF32, assertSameShape, dispatchElements } from './launch';

export const ADD = kernel({
  name: 'add',
  source: addSrc,
  storage: ['read', 'read', 'rw'],
  uniforms: [['n', 'u32']],
});
export const AXPBY = kernel({
  name: 'axpby',
  source: axpbySrc,
  storage: ['read', 'rw'],
  uniforms: [
    ['n', 'u32'],
    ['alpha', 'f32'],
    ['beta', 'f32'],
  ],
});
export const GELU_FORWARD = kernel({
  name: 'gelu_forward',
  source: geluFwdSrc,
  storage: ['read', 'rw'],
  uniforms: [['n', 'u32']],
});
export const GELU_BACKWARD = kernel({
  name: 'gelu_backward',
  source: geluBwdSrc,
  storage: ['read', 'read', 'rw'],
  uniforms: [['n', 'u32']],
});

/** y = alpha·y + beta·x over n elements (alpha = 0 never reads y). */
export function launchAxpby(gpu: Gpu, x: BufferView, y: BufferView, n: number, alpha: number, beta: number): void {
  dispatchElements(gpu, AXPBY, [x, y], { n, alpha, beta }, n);
}

/** y += scale·x for two tensors of equal size; with add false, y = scale·x (y is not read). */
export function accumulate(y: Tensor, x: Tensor, scale = 1, add = true): void {
  if (x.size !== y.size) throw new Error(`accumulate: sizes ${x.size} and ${y.size} differ`);
  launchAxpby(y.gpu, x.view, y.view, y.size, add ? 1 : 0, scale);
}

/**
 * A backward rule's slot += scale·g: g itself when it can be moved in (scale 1, the input's first gradient), else
 * written over the slot's fresh storage or added to its gradient so far.
 */
export function passGradient(slot: GradSlot, g: Tensor, scale = 1): void {
  if (scale === 1 && slot.take(g)) return;
  const { t, accumulate: add } = slot.out();
  accumulate(t, g, scale, add);
}

/** dx (+)= dy·GELU'(x): added with accumulate, else written over dx (not read). */
export function launchGeluBackward(
  gpu: Gpu,
  x: BufferView,
  dy: BufferView,
  dx: BufferView,
  n: number,
  accumulate: boolean,
): void {
  dispatchElements(gpu, GELU_BACKWARD, [x, dy, dx], { n }, n, { ACCUMULATE: accumulate });
}

export function add(a: Tensor, b: Tensor): Tensor {
  assertF32(a, 'add');
  assertSameShape(a, b, 'add');
  const y = empty(a.gpu, a.shape);
  dispatchElements(a.gpu, ADD, [a.view, b.view, y.view], { n: a.size }, a.size);
  tape.record('add', [a, b], [y], {});
  return y;
}

export function scale(x: Tensor, factor: number): Tensor {
  assertF32(x, 'scale');
  const y = empty(x.gpu, x.shape);
  launchAxpby(x.gpu, x.view, y.view, x.size, 0, factor);
  tape.record('scale', [x], [y], { factor });
  return y;
}

export function gelu(x: Tensor): Tensor {
  assertF32(x, 'gelu');
  const y = empty(x.gpu, x.shape);
  dispatchElements(x.gpu, GELU_FORWARD, [x.view, y.view], { n: x.size }, x.size);
  tape.record('gelu', [x], [y], {});
  return y;
}

/** x viewed with another shape of the same size; gradients flow through unchanged. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const y = x.reshapeView(shape);
  tape.record('reshape', [x], [y], {});
  return y;
}
