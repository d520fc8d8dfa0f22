// Inherit and grow as parameter sources (DESIGN.md "Inherit(n)", "Grow"): the small model's tensors come from the
// reference by name (a family names a block's tensors the same at every size), lazily, so only the inherited blocks'
// bytes are read. The paper-code option leaves the tensors the family's authors' code leaves at init.

import type { ModelConfig } from '../model/family';
import { inheritedConfig } from '../model/checkpoint';
import type { ParamSource } from '../model/model';
import { familyOf } from '../model/registry';

export type ReadParam = (name: string) => Promise<Float32Array>;

/**
 * Source for inherit(n): the embeddings, blocks 0…n−1, the final norm (and an untied head) from the reference; in
 * paper-code mode the family's paper-code tensors from init (only those are made: a whole init of a large model is
 * gigabytes).
 */
export function inheritSource<C extends ModelConfig>(
  ref: C,
  read: ReadParam,
  n: number,
  opts: { paperCode?: boolean; seed?: number } = {},
): { config: C; source: ParamSource } {
  const config = inheritedConfig(ref, n);
  const family = familyOf(config);
  const fromInit = opts.paperCode ? family.paperCodeInit(config) : new Set<string>();
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
 * trained value; blocks n…m−1 come from the reference.
 */
export function continueSource<C extends ModelConfig>(
  trained: Map<string, Float32Array>,
  ref: C,
  read: ReadParam,
  m: number,
): { config: C; source: ParamSource } {
  const config = inheritedConfig(ref, m);
  return { config, source: (name) => trained.get(name) ?? read(name) };
}
