// The matmul: kernels and their variants (kernels.ts), split-K plans (splitk.ts), the launcher (launch.ts), per-shape
// tuning (tune.ts) and the autograd op (op.ts).

export {
  MATMUL,
  MATMUL_VARIANTS,
  type MatmulEpilogue,
  type MatmulVariant,
  matmulKernel,
  variantsFor,
  vec4Eligible,
} from './kernels';
export { launchMatmul, launchMatmulF16, type MatmulArgs, type MatmulF16Args, type MatmulShape } from './launch';
export { type MatmulOptions, matmul, matmulGelu } from './op';
export { splitK } from './splitk';
export { hasPendingMatmulTuning, type MatmulTuning, tuneMatmuls } from './tune';
