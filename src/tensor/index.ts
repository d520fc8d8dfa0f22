// The tensor engine's public surface: tensors, the tape, ops and backward.

import { backwardRules } from './backward';
import { tape } from './tape';
import { flushColsums, openColsums } from './ops/colsum';
import type { Tensor } from './tensor';

export { Tensor, empty, zeros, fromArray, tidy, tidyAsync } from './tensor';
export { tape, noGrad, isGradEnabled } from './tape';
export { matmul, matmulGelu } from './ops/matmul';
export { add, scale, gelu, accumulate, reshape } from './ops/elementwise';
export { layernorm, LAYERNORM_EPS, rmsnorm } from './ops/layernorm';
export { swiglu } from './ops/swiglu';
export { ropeQkv, ropeInverseFrequencies } from './ops/rope';
export { attention } from './ops/attention';
export { crossEntropy, IGNORE_INDEX } from './ops/crossentropy';
export { headCrossEntropy, headDistill, headTokenScores, paddedVocab } from './ops/head';
export { hiddenCosine } from './ops/hidden-cosine';
export { embedding } from './ops/embedding';
export { sum, globalNorm } from './ops/reduce';
export { transpose } from './ops/transpose';
export { toHalf } from './ops/cast';

/** Back-propagates from a scalar loss through everything recorded since the last backward; leaves accumulate into .grad. */
export function backward(loss: Tensor, seed?: Tensor): void {
  // Parameter gradients' last column-sum stages wait for the end of the pass, four to a dispatch (ops/colsum.ts).
  openColsums(loss.gpu);
  try {
    tape.backward(loss, backwardRules, seed);
  } catch (e) {
    flushColsums(loss.gpu, true);
    throw e;
  }
  flushColsums(loss.gpu);
}
