// The comparisons Inheritune is measured against (arXiv 2404.08634 §4; README "Baselines"), as data: the baseline
// kinds, what each trains in which stages, and the inheritance ablation's choices. Pure (the settings schema and the
// page import it); baselines.ts makes the kinds' parameter sources.

/** The baseline kinds, in the order a run trains them. */
export const BASELINE_KINDS = ['scratch', 'scratch-2x', 'stack', 'hybrid-stack', 'half-width', 'kd'] as const;
export type BaselineKind = (typeof BASELINE_KINDS)[number];

/** What each kind is, for help texts, the report and the page. */
export const BASELINE_HELP: Record<BaselineKind, string> = {
  scratch: "the grown model's size from random init, for as many updates as the Inheritune rounds took together (S)",
  'scratch-2x': 'the same from random init for 2·S updates',
  stack:
    'ceil(n/2) blocks from random init for floor(S/2) updates, then stacked to n (block j is block j mod ceil(n/2)) and trained for the rest of S',
  'hybrid-stack': "the reference's first ceil(n/2) blocks stacked to n the same way, trained for S updates",
  'half-width':
    "the reference's full depth at half its width (each tensor's first half of rows and columns per head and per MLP channel), trained for S updates",
  kd: "the grown model's size from random init, distilled from the reference's logits (α·CE + (1−α)·τ²·KL at temperature τ; Hinton et al. 2015) for S updates",
};

/** Logit distillation's defaults: the weight of cross-entropy and the temperature. */
export const KD_DEFAULTS = { alpha: 0.5, tau: 2 } as const;

/** The block-inheritance ablation: which sub-modules of blocks 0…n−1 come from the reference. */
export const INHERIT_PARTS = ['all', 'attn+mlp', 'attn', 'mlp'] as const;
export type InheritParts = (typeof INHERIT_PARTS)[number];

/** One training stage of a baseline: its size, its updates, and where its initial weights come from. */
export interface BaselineStage {
  layers: number;
  steps: number;
  /** scratch: random init; stack: the previous stage's trained model stacked; hybrid-stack: the reference's first
   * blocks stacked; half-width: the reference narrowed; kd: random init, trained against the reference's logits. */
  init: 'scratch' | 'stack' | 'hybrid-stack' | 'half-width' | 'kd';
}

/** The stages of `kind` for a grown size of `n` blocks (of the reference's `k`) and a budget of `S` updates. */
export function baselineStages(kind: BaselineKind, n: number, k: number, S: number): BaselineStage[] {
  const half = Math.ceil(n / 2);
  switch (kind) {
    case 'scratch':
      return [{ layers: n, steps: S, init: 'scratch' }];
    case 'scratch-2x':
      return [{ layers: n, steps: 2 * S, init: 'scratch' }];
    case 'stack': {
      // One block cannot be stacked from fewer; a budget of one update has no second stage.
      const first = Math.floor(S / 2);
      if (n < 2 || first < 1) return [{ layers: n, steps: S, init: 'scratch' }];
      return [
        { layers: half, steps: first, init: 'scratch' },
        { layers: n, steps: S - first, init: 'stack' },
      ];
    }
    case 'hybrid-stack':
      return [{ layers: n, steps: S, init: 'hybrid-stack' }];
    case 'half-width':
      return [{ layers: k, steps: S, init: 'half-width' }];
    case 'kd':
      return [{ layers: n, steps: S, init: 'kd' }];
  }
}
