// Hugging Face Llama-family checkpoints (DESIGN.md "Llama-family checkpoint keys"): config.json is required (the
// sizes, the variant, rope); every tensor the config implies must be there with its shape; buffers transformers
// itself ignores (rotary inv_freq) are skipped, and a tied model's stored lm_head too.

import type { SafetensorsFile } from '../../io/safetensors';
import { CheckpointError } from '../checkpoint-error';
import type { Checkpoint, HfMapping } from '../family';
import { LLAMA_ARCHITECTURES, type LlamaConfig, LlamaConfigError, llamaFromHf, llamaToHf } from './config';
import { LM_HEAD, llamaParams } from './params';

const IGNORED = /(^|\.)rotary_emb\.inv_freq$/;

export const llamaHf: HfMapping<LlamaConfig> = {
  modelTypes: Object.keys(LLAMA_ARCHITECTURES),
  recognizes: (names) =>
    names.includes('model.embed_tokens.weight') &&
    names.some((n) => /^model\.layers\.\d+\.self_attn\.q_proj\.weight$/.test(n)),
  open: openLlama,
  toHfConfig: llamaToHf,
};

async function openLlama(
  file: SafetensorsFile,
  json: Record<string, unknown> | undefined,
): Promise<Checkpoint<LlamaConfig>> {
  if (json === undefined)
    throw new CheckpointError(
      'This is a Llama-family checkpoint (model.layers.N.self_attn.q_proj): give its config.json too, which says its heads, rope and norm settings.',
      { inConfig: true },
    );
  let config: LlamaConfig;
  try {
    config = llamaFromHf(json);
  } catch (e) {
    if (e instanceof LlamaConfigError) throw new CheckpointError(e.message, { inConfig: true });
    throw e;
  }
  const label = LLAMA_ARCHITECTURES[config.modelType];
  const notes = [`${label} read from config.json.`];
  if (config.positions < config.hfMaxPositions)
    notes.push(
      `Sliding-window attention over ${config.positions} tokens: contexts up to that are exact, so the context is capped there.`,
    );

  const expected = llamaParams(config);
  const want = new Map(expected.map((p) => [p.name, p]));
  for (const p of expected) {
    const info = file.tensors.get(p.name);
    if (!info)
      throw new CheckpointError(
        `The checkpoint lacks ${p.name}, which config.json's ${label} (${config.layers} layers${config.tied ? ', tied head' : ''}${config.qkvBias ? ', q/k/v biases' : ''}) needs.`,
      );
    if (info.shape.join() !== p.shape.join())
      throw new CheckpointError(
        `${p.name} has shape [${info.shape.join(', ')}] but config.json implies [${p.shape.join(', ')}]: give the config.json that belongs to these weights.`,
        { inConfig: true },
      );
  }
  const extra = [...file.tensors.keys()].filter(
    (n) => !want.has(n) && !IGNORED.test(n) && !(config.tied && n === LM_HEAD),
  );
  if (extra.length)
    throw new CheckpointError(
      `The checkpoint has tensors config.json's ${label} does not: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ` and ${extra.length - 5} more` : ''}.`,
      { inConfig: true },
    );
  const read = (name: string) => {
    if (!want.has(name)) throw new CheckpointError(`No parameter ${name} in this checkpoint.`);
    return file.readF32(name);
  };
  return { config, notes, file, read };
}
