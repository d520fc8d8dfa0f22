// Inherit and grow as parameter sources (DESIGN.md "Inherit(n)", "Grow"): the small model's tensors come from the
// reference by name (a family names a block's tensors the same at every size), lazily, so only the inherited blocks'
// bytes are read. The paper-code option leaves the tensors the family's authors' code leaves at init.

import type { ModelConfig } from '../model/family';
import { inheritedConfig } from '../model/checkpoint';
import type { ParamSource } from '../model/model';
import { familyOf } from '../model/registry';
import type { InheritParts } from './baseline-kinds';
import { ablatedTensors } from './baselines';

/** How inherit(n) fills the small model: paper-code tensors and the ablation's left-out sub-modules come from init. */
export interface InheritOptions {
  paperCode?: boolean;
  seed?: number;
  /** The blocks' sub-modules taken from the reference (absent: all). */
  parts?: InheritParts;
  /** With partial `parts`: the blocks' norms too. */
  norms?: boolean;
}

/** The tensors of `config` that inheritance leaves at init. */
function fromInitOf(config: ModelConfig, opts: InheritOptions): Set<string> {
  const out = opts.paperCode ? new Set(familyOf(config).paperCodeInit(config)) : new Set<string>();
  const parts = opts.parts ?? 'all';
  if (parts !== 'all') for (const n of ablatedTensors(config, parts, !!opts.norms)) out.add(n);
  return out;
}

export type ReadParam = (name: string) => Promise<Float32Array>;

/**
 * Source for inherit(n): the embeddings, blocks 0…n−1, the final norm (and an untied head) from the reference; in
 * paper-code mode the family's paper-code tensors from init, and under the ablation the blocks' left-out sub-modules
 * (only those are made: a whole init of a large model is gigabytes).
 */
export function inheritSource<C extends ModelConfig>(
  ref: C,
  read: ReadParam,
  n: number,
  opts: InheritOptions = {},
): { config: C; source: ParamSource } {
  const config = inheritedConfig(ref, n);
  const family = familyOf(config);
  const fromInit = fromInitOf(config, opts);
  let init: Map<string, Float32Array> | null = null;
  const source: ParamSource = (name) => {
    if (fromInit.has(name)) {
      init ??= family.init(config, opts.seed ?? 0, fromInit);
      return init.get(name)!;
    }
    return read(name);
  };
  return { config, source };
}

/**
 * Source for growing a trained model of n blocks to m in `continue` mode: every tensor the trained model has keeps its
 * trained value; blocks n…m−1 come from the reference (under the ablation, their left-out sub-modules from init).
 */
export function continueSource<C extends ModelConfig>(
  trained: Map<string, Float32Array>,
  ref: C,
  read: ReadParam,
  m: number,
  opts: InheritOptions = {},
): { config: C; source: ParamSource } {
  const config = inheritedConfig(ref, m);
  const fresh = inheritSource(ref, read, m, opts).source;
  return { config, source: (name, shape) => trained.get(name) ?? fresh(name, shape) };
}
