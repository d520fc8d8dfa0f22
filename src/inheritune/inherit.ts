// Inherit and grow as parameter sources (DESIGN.md "Inherit(n)", "Grow"): the small model's tensors come from the
// reference by name, lazily, so only the inherited blocks' bytes are read. The paper-code option leaves wpe and ln_f
// at GPT-2 init as the authors' code does.

import { inheritedConfig } from '../io/checkpoint';
import type { Gpt2Config } from '../model/config';
import type { ParamSource } from '../model/gpt2';
import { initParams } from '../model/params';

export type ReadParam = (name: string) => Promise<Float32Array>;

/** The default n: half the reference's blocks (at least 1). */
export function defaultN(k: number): number {
  return Math.max(1, Math.floor(k / 2));
}

/** The tensors paper-code mode takes from init (only these are made: a whole init of a large model is gigabytes). */
const PAPER_CODE_INIT = new Set(['wpe.weight', 'ln_f.weight', 'ln_f.bias']);

/** Source for inherit(n): wte, wpe, blocks 0…n−1, ln_f from the reference (wpe and ln_f from init in paper-code mode). */
export function inheritSource(
  ref: Gpt2Config,
  read: ReadParam,
  n: number,
  opts: { paperCode?: boolean; seed?: number } = {},
): { config: Gpt2Config; source: ParamSource } {
  const config = inheritedConfig(ref, n);
  let init: Map<string, Float32Array> | null = null;
  const source: ParamSource = (name) => {
    if (opts.paperCode && (name === 'wpe.weight' || name.startsWith('ln_f.'))) {
      init ??= initParams(config, opts.seed ?? 0, PAPER_CODE_INIT);
      return init.get(name)!;
    }
    return read(name);
  };
  return { config, source };
}

/**
 * Source for growing a trained model of n blocks to m in `continue` mode: every tensor the trained model has keeps its
 * trained value; blocks n…m−1 come from the reference.
 */
export function continueSource(
  trained: Map<string, Float32Array>,
  ref: Gpt2Config,
  read: ReadParam,
  m: number,
): { config: Gpt2Config; source: ParamSource } {
  const config = inheritedConfig(ref, m);
  return { config, source: (name) => trained.get(name) ?? read(name) };
}
