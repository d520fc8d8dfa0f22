// Hugging Face GPT-2 checkpoints in and out: key conventions (optional `transformer.` prefix, mask buffers ignored,
// tied head), config from config.json or inferred from shapes, a specific error for checkpoints that are not GPT-2,
// and export as model.safetensors (F32, no prefix, {"format":"pt"}) + config.json.

import { type Gpt2Config, fromHfConfig, toHfConfig, validateConfig } from '../model/config';
import { paramSpecs } from '../model/params';
import { type ByteSource, type SafetensorsFile, openSafetensors, writeSafetensors } from './safetensors';

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export interface Gpt2Checkpoint {
  config: Gpt2Config;
  /** Where the config came from, and anything assumed (shown to the user). */
  notes: string[];
  file: SafetensorsFile;
  /** Reads a parameter by its canonical name (lazily: only that tensor's bytes). */
  read(name: string): Promise<Float32Array>;
}

const MASK_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;

/** Recognisable non-GPT-2 layouts, for the error message. */
const FAMILIES: [RegExp, string][] = [
  [/(^|\.)layers\.\d+\.self_attn\.(q|k|v)_proj\.weight$/, 'Llama/Mistral-style (model.layers.N.self_attn.q_proj)'],
  [/(^|\.)encoder\.layer\.\d+\.attention\.self\.query/, 'BERT-style (encoder.layer.N.attention.self.query)'],
  [/(^|\.)gpt_neox\.layers\./, 'GPT-NeoX'],
  [/(^|\.)h\.\d+\.self_attention\.query_key_value/, 'BLOOM/Falcon-style'],
  [/(^|\.)decoder\.layers\.\d+\./, 'OPT/T5-style decoder'],
];

/**
 * Opens a GPT-2 checkpoint. `configJson` is the text of config.json when the user gave one; without it the sizes are
 * inferred from the tensors and n_head is taken as n_embd/64 (noted). `nHead` overrides that guess.
 */
export async function openGpt2Checkpoint(
  src: ByteSource,
  opts: { configJson?: string; nHead?: number; label?: string } = {},
): Promise<Gpt2Checkpoint> {
  const file = await openSafetensors(src, opts.label);
  const notes: string[] = [];
  // Canonical name → name in the file.
  const names = new Map<string, string>();
  let lmHead: string | null = null;
  for (const raw of file.tensors.keys()) {
    const name = raw.startsWith('transformer.') ? raw.slice('transformer.'.length) : raw;
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
  if (!names.has('wte.weight') || !names.has('h.0.attn.c_attn.weight')) throw notGpt2([...file.tensors.keys()]);

  const shapeOf = (n: string) => file.tensors.get(names.get(n)!)!.shape;
  const [V, C] = shapeOf('wte.weight') as [number, number];
  const inferred = {
    vocabSize: V,
    nEmbd: C,
    nPositions: names.has('wpe.weight') ? shapeOf('wpe.weight')[0]! : NaN,
    nLayer:
      1 +
      Math.max(
        ...[...names.keys()]
          .map((n) => /^h\.(\d+)\./.exec(n))
          .filter((m) => m)
          .map((m) => Number(m![1])),
      ),
  };
  let fromFile: Partial<Gpt2Config> & { modelType?: string } = {};
  if (opts.configJson !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(opts.configJson);
    } catch (e) {
      throw new CheckpointError(`config.json is not valid JSON: ${(e as Error).message}`);
    }
    try {
      fromFile = fromHfConfig(parsed);
    } catch (e) {
      throw new CheckpointError((e as Error).message);
    }
    if (fromFile.modelType && fromFile.modelType !== 'gpt2')
      throw new CheckpointError(`config.json describes a "${fromFile.modelType}" model, not GPT-2.`);
    notes.push('Configuration read from config.json.');
  } else {
    notes.push('No config.json: sizes inferred from the tensor shapes.');
  }
  for (const [k, v] of Object.entries(inferred) as [keyof typeof inferred, number][]) {
    const given = fromFile[k];
    if (given !== undefined && Number.isFinite(v) && given !== v) {
      throw new CheckpointError(
        `config.json disagrees with the tensors: ${hfName(k)} is ${given} in config.json but ${v} in the checkpoint.`,
      );
    }
  }
  let nHead = opts.nHead ?? fromFile.nHead;
  if (nHead === undefined) {
    if (C % 64)
      throw new CheckpointError(
        `The number of attention heads is unknown (no config.json) and n_embd ${C} is not a multiple of 64: give n_head.`,
      );
    nHead = C / 64;
    notes.push(
      `n_head not given: assuming n_embd/64 = ${nHead}, GPT-2's head size. Give config.json if that is wrong.`,
    );
  }
  const config: Gpt2Config = {
    vocabSize: V,
    nEmbd: C,
    nPositions: inferred.nPositions,
    nLayer: inferred.nLayer,
    nHead,
  };
  if (!Number.isFinite(config.nPositions))
    throw new CheckpointError('Checkpoint has no wpe.weight (position embeddings): not a GPT-2 checkpoint.');
  try {
    validateConfig(config);
  } catch (e) {
    throw new CheckpointError((e as Error).message);
  }

  // Every expected tensor present with its shape; nothing unexpected left over.
  const expected = paramSpecs(config);
  for (const p of expected) {
    const raw = names.get(p.name);
    if (!raw) throw new CheckpointError(`Checkpoint lacks ${p.name} (expected for a ${config.nLayer}-layer GPT-2).`);
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

function hfName(k: string): string {
  return (
    (
      {
        vocabSize: 'vocab_size',
        nEmbd: 'n_embd',
        nPositions: 'n_positions',
        nLayer: 'n_layer',
        nHead: 'n_head',
      } as Record<string, string>
    )[k] ?? k
  );
}

function notGpt2(keys: string[]): CheckpointError {
  const family = FAMILIES.find(([re]) => keys.some((k) => re.test(k)))?.[1];
  const sample = keys.slice(0, 6).join(', ');
  return new CheckpointError(
    `This is not a GPT-2 checkpoint${family ? ` (it looks ${family})` : ''}: expected wte.weight, wpe.weight and h.N.attn.c_attn.weight (optionally prefixed "transformer."), found ${keys.length} tensors such as ${sample || '(none)'}.`,
  );
}

/** model.safetensors parts (F32, canonical names, {"format":"pt"}) and config.json text for a GPT-2's parameters. */
export function exportGpt2(
  config: Gpt2Config,
  params: Map<string, Float32Array>,
): { safetensors: Uint8Array<ArrayBuffer>[]; configJson: string } {
  const tensors = paramSpecs(config).map((p) => {
    const data = params.get(p.name);
    if (!data) throw new Error(`export: parameter ${p.name} missing`);
    return { name: p.name, shape: p.shape, data };
  });
  return {
    safetensors: writeSafetensors(tensors, { format: 'pt' }),
    configJson: `${JSON.stringify(toHfConfig(config), null, 2)}\n`,
  };
}

/** The config of the model that inherits the first n blocks (Inheritune's inherit(n)). */
export function inheritedConfig(config: Gpt2Config, n: number): Gpt2Config {
  if (!Number.isInteger(n) || n < 1 || n > config.nLayer)
    throw new CheckpointError(
      `--layers must be an integer from 1 to ${config.nLayer} (the reference has ${config.nLayer} blocks), got ${n}.`,
    );
  return { ...config, nLayer: n };
}
