// The baselines' and the inheritance ablation's parameter sources (the kinds themselves: baseline-kinds.ts): stacked
// blocks, the reference narrowed to half width, the reference's first blocks stacked, and which block tensors the
// ablation leaves at init. Parameter sources over the reference's reads: no GPU code.

import { inheritedConfig } from '../model/checkpoint';
import type { ModelConfig, ParamSpec } from '../model/family';
import type { ParamSource } from '../model/model';
import { familyOf } from '../model/registry';
import { sliceTensor } from '../model/slice';
import type { InheritParts } from './baseline-kinds';
import type { ReadParam } from './inherit';

/** Each block's tensor names in order, for mapping block j's k-th tensor to another block's. */
function blockNames(specs: readonly ParamSpec[]): string[][] {
  const out: string[][] = [];
  for (const p of specs) {
    if (p.block === null) continue;
    out[p.block] ??= [];
    out[p.block]!.push(p.name);
  }
  return out;
}

/**
 * A model of `to.layers` blocks whose block j is block j mod m of a model of m blocks read through `from` (Gong et
 * al. 2019's stacking, repeated as often as needed); the tensors outside the blocks are `from`'s own.
 */
export function stackedSource(from: ParamSource, fromConfig: ModelConfig, to: ModelConfig): ParamSource {
  const family = familyOf(to);
  const src = blockNames(family.params(fromConfig));
  const dst = family.params(to);
  const m = src.length;
  if (m < 1) throw new Error('stacking needs a model with at least one block');
  const map = new Map<string, string>();
  const pos = new Map<number, number>();
  for (const p of dst) {
    if (p.block === null) continue;
    const i = pos.get(p.block) ?? 0;
    pos.set(p.block, i + 1);
    const name = src[p.block % m]?.[i];
    if (!name) throw new Error(`stacking: block ${p.block}'s tensor ${p.name} has no counterpart`);
    map.set(p.name, name);
  }
  return (name, shape) => from(map.get(name) ?? name, shape);
}

/** The half-width baseline's source: the reference's tensors narrowed by its family's rule. */
export function halfWidthSource<C extends ModelConfig>(ref: C, read: ReadParam): { config: C; source: ParamSource } {
  const family = familyOf(ref);
  if (!family.halfWidth) throw new Error(`the ${family.label} family has no half-width baseline`);
  const half = family.halfWidth(ref as never) as { config: C; keep(p: ParamSpec): (number[] | null)[] };
  family.validate(half.config);
  const refSpecs = new Map(family.params(ref).map((p) => [p.name, p]));
  const specs = new Map(family.params(half.config).map((p) => [p.name, p]));
  const source: ParamSource = async (name) => {
    const p = refSpecs.get(name);
    const want = specs.get(name);
    if (!p || !want) throw new Error(`half-width: the model has no tensor ${name}`);
    const out = sliceTensor(await read(name), p.shape, half.keep(p));
    if (out.length !== want.size)
      throw new Error(
        `half-width: ${name} narrowed to ${out.length} values, its shape [${want.shape}] holds ${want.size}`,
      );
    return out;
  };
  return { config: half.config, source };
}

/** Whether the inheritance `parts` take a block tensor (norms: with `norms`). */
export function inheritsTensor(p: ParamSpec, parts: InheritParts, norms: boolean): boolean {
  if (p.block === null) return true;
  if (p.role === 'norm') return norms;
  if (parts === 'all' || parts === 'attn+mlp') return true;
  if (!p.part) throw new Error(`the ${p.name} tensor has no sub-module (attention or MLP) to ablate by`);
  return p.part === parts;
}

/** The block tensors of `config` that the ablation leaves at init (empty for all parts with norms). */
export function ablatedTensors(config: ModelConfig, parts: InheritParts, norms: boolean): Set<string> {
  return new Set(
    familyOf(config)
      .params(config)
      .filter((p) => !inheritsTensor(p, parts, norms))
      .map((p) => p.name),
  );
}

/** The hybrid-stack baseline's source: the reference's first ceil(n/2) blocks, stacked to n. */
export function hybridStackSource<C extends ModelConfig>(
  ref: C,
  read: ReadParam,
  n: number,
): { config: C; source: ParamSource } {
  const half = inheritedConfig(ref, Math.ceil(n / 2));
  const config = inheritedConfig(ref, n);
  return { config, source: stackedSource((name) => read(name), half, config) };
}
