// The model families the engine knows, by id: the built-in ones, and any a caller registers (tests register a toy
// family to prove nothing outside src/model/<family>/ names an architecture).

import type { ModelConfig, ModelFamily } from './family';
import { gpt2 } from './gpt2';
import { llama } from './llama';

const families = new Map<string, ModelFamily>([
  [gpt2.id, gpt2 as unknown as ModelFamily],
  [llama.id, llama as unknown as ModelFamily],
]);

export function registerFamily<C extends ModelConfig>(family: ModelFamily<C>): void {
  const known = families.get(family.id);
  if (known && known !== (family as unknown as ModelFamily))
    throw new Error(`A model family with id "${family.id}" is already registered.`);
  families.set(family.id, family as unknown as ModelFamily);
}

/** Every registered family, the built-in ones first. */
export function allFamilies(): ModelFamily[] {
  return [...families.values()];
}

/** The family a config (or an id) belongs to. */
export function familyOf(c: Pick<ModelConfig, 'family'> | string): ModelFamily {
  const id = typeof c === 'string' ? c : c.family;
  const f = families.get(id);
  if (!f) throw new Error(`Unknown model family "${id}" (this build knows ${[...families.keys()].join(', ')}).`);
  return f;
}
