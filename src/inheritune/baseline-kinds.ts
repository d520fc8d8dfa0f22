// The comparisons Inheritune is measured against (arXiv 2404.08634 §4; README "Baselines"), as data: the baseline
// kinds, what each trains in which stages, and the inheritance ablation's choices. Pure (the settings schema and the
// page import it); baselines.ts makes the kinds' parameter sources.

/** The baseline kinds, in the order a run trains them. */
export const BASELINE_KINDS = [
  'scratch',
  'scratch-2x',
  'stack',
  'hybrid-stack',
  'half-width',
  'kd',
  'kd-hidden',
] as const;
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
  'kd-hidden':
    "kd plus DistilBERT's cosine loss (Sanh et al. 2019): β·the mean over the student's n blocks of 1 − cos between each block's output and the reference's at the matched block ceil((j+1)·k/n) − 1, for S updates",
};

/** The distillation kinds: their student trains against the whole reference as teacher. */
export const DISTILL_KINDS: readonly BaselineKind[] = ['kd', 'kd-hidden'];

/** Whether a comparison list asks for a distillation kind (and so for the kd settings). */
export function distills(compare: readonly string[]): boolean {
  return compare.some((k) => (DISTILL_KINDS as readonly string[]).includes(k));
}

/**
 * Distillation's defaults: the weight of cross-entropy α, the temperature τ, and kd-hidden's weight β of the cosine
 * term (DistilBERT weighs it 1 against 5 on its KL and 2 on its MLM loss; with α·CE + (1−α)·τ²·KL summing to one
 * weight, β = 1 gives the hidden states as much pull as the logits).
 */
export const KD_DEFAULTS = { alpha: 0.5, tau: 2, beta: 1 } as const;

/** The block-inheritance ablation: which sub-modules of blocks 0…n−1 come from the reference. */
export const INHERIT_PARTS = ['all', 'attn+mlp', 'attn', 'mlp'] as const;
export type InheritParts = (typeof INHERIT_PARTS)[number];

/** One training stage of a baseline: its size, its updates, and where its initial weights come from. */
export interface BaselineStage {
  layers: number;
  steps: number;
  /** scratch: random init; stack: the previous stage's trained model stacked; hybrid-stack: the reference's first
   * blocks stacked; half-width: the reference narrowed; kd: random init, trained against the reference's logits;
   * kd-hidden: the same, also against its hidden states. */
  init: 'scratch' | 'stack' | 'hybrid-stack' | 'half-width' | 'kd' | 'kd-hidden';
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
    case 'kd-hidden':
      return [{ layers: n, steps: S, init: kind }];
  }
}
