// Hugging Face GPT-2 checkpoints (DESIGN.md "GPT-2 checkpoint keys"): an optional `transformer.` prefix, mask buffers
// ignored, the head tied to wte (an lm_head must equal it), the config from config.json or inferred from the tensor
// shapes, and every expected tensor present with its shape.

import type { SafetensorsFile } from '../../io/safetensors';
import { CheckpointError } from '../checkpoint-error';
import type { Checkpoint, HfMapping } from '../family';
import {
  type Gpt2Config,
  type Gpt2Sizes,
  fromHfConfig,
  gpt2Config,
  HF_NAMES,
  toHfConfig,
  validateGpt2,
} from './config';
import { gpt2Params } from './params';

const MASK_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;
const PREFIX = 'transformer.';

const canonical = (raw: string) => (raw.startsWith(PREFIX) ? raw.slice(PREFIX.length) : raw);

export const gpt2Hf: HfMapping<Gpt2Config> = {
  modelTypes: ['gpt2'],
  recognizes: (names) => {
    const set = new Set(names.map(canonical));
    return (set.has('wte.weight') || set.has('lm_head.weight')) && set.has('h.0.attn.c_attn.weight');
  },
  open: openGpt2,
  toHfConfig,
};

/** Opens a GPT-2 checkpoint; without config.json, n_head is taken as n_embd/64 (noted) unless `heads` is given. */
async function openGpt2(
  file: SafetensorsFile,
  json: Record<string, unknown> | undefined,
  opts: { heads?: number },
): Promise<Checkpoint<Gpt2Config>> {
  const notes: string[] = [];
  // Canonical name → name in the file.
  const names = new Map<string, string>();
  let lmHead: string | null = null;
  for (const raw of file.tensors.keys()) {
    const name = canonical(raw);
    if (MASK_BUFFER.test(name)) continue;
    if (name === 'lm_head.weight') {
      lmHead = raw;
      continue;
    }
    if (names.has(name))
      throw new CheckpointError(`Checkpoint has both "${names.get(name)}" and "${raw}": one tensor under two names.`);
    names.set(name, raw);
  }
  if (!names.has('wte.weight') && lmHead) {
    names.set('wte.weight', lmHead);
    notes.push('wte.weight taken from lm_head.weight (tied head).');
    lmHead = null;
  }
  if (!names.has('wte.weight') || !names.has('h.0.attn.c_attn.weight')) {
    throw new CheckpointError(
      `This is not a GPT-2 checkpoint: expected wte.weight, wpe.weight and h.N.attn.c_attn.weight (optionally prefixed "transformer.").`,
    );
  }

  const shapeOf = (n: string) => file.tensors.get(names.get(n)!)!.shape;
  const [V, C] = shapeOf('wte.weight') as [number, number];
  const inferred: Omit<Gpt2Sizes, 'heads'> = {
    vocabSize: V,
    width: C,
    positions: names.has('wpe.weight') ? shapeOf('wpe.weight')[0]! : NaN,
    layers:
      1 +
      Math.max(
        ...[...names.keys()]
          .map((n) => /^h\.(\d+)\./.exec(n))
          .filter((m) => m)
          .map((m) => Number(m![1])),
      ),
  };
  let fromFile: Partial<Gpt2Sizes> = {};
  if (json !== undefined) {
    try {
      fromFile = fromHfConfig(json);
    } catch (e) {
      throw new CheckpointError((e as Error).message, { inConfig: true });
    }
    notes.push('Configuration read from config.json.');
  } else {
    notes.push('No config.json: sizes inferred from the tensor shapes.');
  }
  for (const [k, v] of Object.entries(inferred) as [keyof typeof inferred, number][]) {
    const given = fromFile[k];
    if (given !== undefined && Number.isFinite(v) && given !== v) {
      throw new CheckpointError(
        `config.json disagrees with the tensors: ${HF_NAMES[k]} is ${given} in config.json but ${v} in the checkpoint.`,
        { inConfig: true },
      );
    }
  }
  let heads = opts.heads ?? fromFile.heads;
  if (heads === undefined) {
    if (C % 64)
      throw new CheckpointError(
        `The number of attention heads is unknown (no config.json) and n_embd ${C} is not a multiple of 64: give n_head.`,
      );
    heads = C / 64;
    notes.push(
      `n_head not given: assuming n_embd/64 = ${heads}, GPT-2's head size. Give config.json if that is wrong.`,
    );
  }
  if (!Number.isFinite(inferred.positions))
    throw new CheckpointError('Checkpoint has no wpe.weight (position embeddings): not a GPT-2 checkpoint.');
  const config = gpt2Config({ ...inferred, heads });
  try {
    validateGpt2(config);
  } catch (e) {
    throw new CheckpointError((e as Error).message);
  }

  // Every expected tensor present with its shape; nothing unexpected left over.
  const expected = gpt2Params(config);
  for (const p of expected) {
    const raw = names.get(p.name);
    if (!raw) throw new CheckpointError(`Checkpoint lacks ${p.name} (expected for a ${config.layers}-layer GPT-2).`);
    const shape = file.tensors.get(raw)!.shape;
    if (shape.join() !== p.shape.join())
      throw new CheckpointError(
        `${raw} has shape [${shape.join(', ')}], expected [${p.shape.join(', ')}] for this GPT-2 (Conv1D weights are [in, out]).`,
      );
  }
  const known = new Set(expected.map((p) => p.name));
  const extra = [...names.keys()].filter((n) => !known.has(n));
  if (extra.length)
    throw new CheckpointError(
      `Checkpoint has tensors a GPT-2 does not: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ` and ${extra.length - 5} more` : ''}.`,
    );

  const read = (name: string) => {
    const raw = names.get(name);
    if (!raw) throw new CheckpointError(`No parameter ${name} in this checkpoint.`);
    return file.readF32(raw);
  };
  if (lmHead) {
    const [head, wte] = await Promise.all([file.readF32(lmHead), read('wte.weight')]);
    if (head.length !== wte.length || head.some((v, i) => v !== wte[i])) {
      throw new CheckpointError(
        'lm_head.weight differs from wte.weight: this GPT-2 has an untied head, which Inheritune Studio does not support.',
      );
    }
  }
  return { config, notes, file, read };
}
