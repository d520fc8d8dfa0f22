// Checkpoints in and out, for every family: open a safetensors file with its optional config.json, pick the family
// (config.json's model_type, else the tensor names), and let the family map it; export a model as model.safetensors
// (F32, canonical names, {"format":"pt"}) + config.json; the config of inherit(n).

import { type ByteSource, openSafetensors, type SafetensorsFile } from '../io/safetensors';
import { writeSafetensors } from '../io/safetensors-write';
import { type TokenizerFiles, TokenizerError } from '../io/hf-tokenizer';
import type { Tokenizer } from '../io/tokenizer';
import { CheckpointError } from './checkpoint-error';
import type { Checkpoint, ModelConfig, ModelFamily } from './family';
import { allFamilies, familyOf } from './registry';

export { CheckpointError };

/** The dtypes a model is exported in. */
export type ExportDtype = 'F32' | 'BF16';

/** An opened checkpoint and the family that read it. */
export interface OpenedCheckpoint<C extends ModelConfig = ModelConfig> extends Checkpoint<C> {
  family: ModelFamily<C>;
  /** The folder's tokenizer files, when it had them (a Llama-family reference's vocabulary). */
  tokenizerFiles?: TokenizerFiles;
}

/** Recognisable layouts no registered family reads, for the error message. */
const OTHER_LAYOUTS: [RegExp, string][] = [
  [/(^|\.)encoder\.layer\.\d+\.attention\.self\.query/, 'BERT-style (encoder.layer.N.attention.self.query)'],
  [/(^|\.)gpt_neox\.layers\./, 'GPT-NeoX'],
  [/(^|\.)h\.\d+\.self_attention\.query_key_value/, 'BLOOM/Falcon-style'],
  [/(^|\.)decoder\.layers\.\d+\./, 'OPT/T5-style decoder'],
];

const readable = () =>
  allFamilies()
    .map((f) => `${f.label} (model_type ${f.hf.modelTypes.map((t) => `"${t}"`).join(', ')})`)
    .join('; ');

/**
 * Opens a checkpoint: one safetensors file, or an opened SafetensorsFile (a sharded checkpoint's, io/sharded.ts).
 * `configJson` is the text of config.json when the user gave one; a family may infer what it
 * lacks from the tensor shapes (and says so in `notes`). `heads` overrides a guessed head count.
 */
export async function openCheckpoint(
  src: ByteSource | SafetensorsFile,
  opts: { configJson?: string; heads?: number; label?: string; tokenizer?: TokenizerFiles } = {},
): Promise<OpenedCheckpoint> {
  const file = 'tensors' in src ? src : await openSafetensors(src, opts.label);
  let json: Record<string, unknown> | undefined;
  if (opts.configJson !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(opts.configJson);
    } catch (e) {
      throw new CheckpointError(`config.json is not valid JSON: ${(e as Error).message}`, { inConfig: true });
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new CheckpointError('config.json is not a JSON object', { inConfig: true });
    json = parsed as Record<string, unknown>;
  }
  const names = [...file.tensors.keys()];
  const modelType = typeof json?.model_type === 'string' ? json.model_type : undefined;
  const byNames = allFamilies().find((f) => f.hf.recognizes(names));
  let family = byNames;
  if (modelType !== undefined) {
    family = allFamilies().find((f) => f.hf.modelTypes.includes(modelType));
    if (!family)
      throw new CheckpointError(
        `config.json describes a "${modelType}" model, which Inheritune Studio does not read (it reads ${readable()}).`,
        { inConfig: true },
      );
    if (byNames && byNames !== family)
      throw new CheckpointError(
        `config.json describes a "${modelType}" model, but the tensors are a ${byNames.label} checkpoint's: give the config.json that belongs to this model.safetensors.`,
        { inConfig: true },
      );
  }
  if (!family?.hf.recognizes(names)) throw unknownLayout(names);
  const ckpt = await family.hf.open(file, json, { heads: opts.heads });
  return { ...ckpt, family, ...(opts.tokenizer ? { tokenizerFiles: opts.tokenizer } : {}) };
}

function unknownLayout(keys: string[]): CheckpointError {
  const other = OTHER_LAYOUTS.find(([re]) => keys.some((k) => re.test(k)))?.[1];
  const sample = keys.slice(0, 6).join(', ');
  return new CheckpointError(
    `This is not a checkpoint Inheritune Studio reads (${readable()})${other ? `: it looks ${other}` : ''}; found ${keys.length} tensors such as ${sample || '(none)'}.`,
  );
}

/**
 * model.safetensors parts (F32, or rounded to BF16; canonical names, {"format":"pt"}) and config.json text (its
 * torch_dtype saying which) for a model's parameters.
 */
export function exportCheckpoint(
  config: ModelConfig,
  params: Map<string, Float32Array>,
  opts: { dtype?: ExportDtype } = {},
): { safetensors: Uint8Array<ArrayBuffer>[]; configJson: string } {
  const family = familyOf(config);
  const tensors = family.params(config).map((p) => {
    const data = params.get(p.name);
    if (!data) throw new Error(`export: parameter ${p.name} missing`);
    return { name: p.name, shape: p.shape, data };
  });
  const dtype = opts.dtype ?? 'F32';
  const hf = { ...family.hf.toHfConfig(config), torch_dtype: dtype === 'BF16' ? 'bfloat16' : 'float32' };
  return {
    safetensors: writeSafetensors(tensors, { format: 'pt' }, { dtype }),
    configJson: `${JSON.stringify(hf, null, 2)}\n`,
  };
}

/** The config of the model that inherits the first n blocks (Inheritune's inherit(n)). */
export function inheritedConfig<C extends ModelConfig>(config: C, n: number): C {
  if (!Number.isInteger(n) || n < 1 || n > config.layers)
    throw new CheckpointError(
      `the number of blocks to inherit must be an integer from 1 to ${config.layers} (the reference has ${config.layers} blocks), got ${n}.`,
    );
  return (familyOf(config) as unknown as ModelFamily<C>).withLayers(config, n);
}

/**
 * The tokenizer a model's corpora are encoded with (its family's, or one from the reference folder's tokenizer
 * files), or a CheckpointError saying why there is none.
 */
export function tokenizerOf(config: ModelConfig, files?: TokenizerFiles): Tokenizer {
  const family = familyOf(config);
  let t: Tokenizer | null;
  try {
    t = family.tokenizer(config, files);
  } catch (e) {
    if (e instanceof TokenizerError) throw new CheckpointError(e.message);
    throw e;
  }
  if (!t && !files && family.tokenizerFromFiles)
    throw new CheckpointError(
      `This ${family.label} comes without tokenizer.json: give the reference folder's tokenizer.json (and tokenizer_config.json), which its corpus must be encoded with.`,
    );
  if (!t)
    throw new CheckpointError(
      `This ${family.label} has a vocabulary of ${config.vocabSize.toLocaleString('en-US')} tokens, which no tokenizer Inheritune Studio has fits: its corpus cannot be encoded.`,
    );
  if (t.vocabSize > config.vocabSize)
    throw new CheckpointError(
      `tokenizer.json has ${t.vocabSize.toLocaleString('en-US')} tokens but the model's vocabulary only ${config.vocabSize.toLocaleString('en-US')}: give the tokenizer that belongs to this model.`,
    );
  return t;
}
