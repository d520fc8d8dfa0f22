// AdamW over a GPT-2's parameter banks: gradients are views into flat banks laid out like the parameters, so one
// update is a global-norm reduction over the gradient banks plus two fused AdamW dispatches per bank (the decayed
// 2-D range with weight decay, the 1-D range without). Nothing is read back: the clip factor is applied on the GPU.

import type { Gpt2Model } from '../model/gpt2';
import { empty, globalNorm, type Tensor } from '../tensor';
import { launchAdamW } from './adamw';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Global-norm clip threshold; 0 disables clipping. */
  maxNorm: number;
}

/** DESIGN.md's AdamW: β (0.9, 0.95), eps 1e-8, decoupled decay on 2-D tensors, global-norm clip 1.0. */
export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxNorm: 1.0 };

export class AdamW {
  readonly grads: Tensor[];
  private readonly m: Tensor[];
  private readonly v: Tensor[];
  /** Updates taken so far (bias corrections use step + 1). */
  step = 0;

  constructor(readonly model: Gpt2Model, readonly cfg: AdamWConfig = ADAMW_DEFAULTS) {
    const gpu = model.gpu;
    this.grads = model.flatGradients();
    const zeros = () => model.layout.bankSizes.map((n) => {
      const t = empty(gpu, [n], 'f32', 'moments');
      gpu.clear(t.view);
      return t;
    });
    this.m = zeros();
    this.v = zeros();
  }

  /** Zeroes the gradient banks (before the micro-batches of the next update). */
  zeroGrad(): void {
    for (const g of this.grads) this.model.gpu.clear(g.view);
  }

  /**
   * Applies one update with learning rate `lr` to every parameter from the accumulated gradients. Returns the
   * pre-clip global gradient norm as a [1] tensor on the GPU (read it later, or dispose it).
   */
  update(lr: number): Tensor {
    if (!(lr >= 0) || !Number.isFinite(lr)) throw new Error(`learning rate must be a finite number ≥ 0, got ${lr}`);
    const gpu = this.model.gpu;
    const norm = globalNorm(this.grads);
    this.step++;
    const { layout } = this.model;
    layout.bankSizes.forEach((size, b) => {
      const ranges: [number, number, number][] = [[0, layout.decayEnds[b]!, this.cfg.weightDecay], [layout.decayEnds[b]!, size, 0]];
      for (const [lo, hi, wd] of ranges) {
        if (hi <= lo) continue;
        const view = (t: Tensor) => ({ ...t.view, offset: t.view.offset + lo * 4, size: (hi - lo) * 4 });
        launchAdamW(gpu, {
          param: view(this.model.banks[b]!), grad: view(this.grads[b]!), m: view(this.m[b]!), v: view(this.v[b]!), n: hi - lo,
          step: this.step, lr, beta1: this.cfg.beta1, beta2: this.cfg.beta2, eps: this.cfg.eps, wd,
          gradNorm: norm.view, maxNorm: this.cfg.maxNorm,
        });
      }
    });
    return norm;
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}
