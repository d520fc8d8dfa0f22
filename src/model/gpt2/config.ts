// GPT-2's configuration: the family's config type, presets, checks, and conversion from/to Hugging Face config.json.
// Pure (no GPU code), so the settings schema and the page can use it.

import type { ModelConfig } from '../family';

/** A GPT-2: the common fields alone (head size = width / heads, position table of `positions` rows). */
export interface Gpt2Config extends ModelConfig {
  family: 'gpt2';
}

/** The sizes that define a GPT-2 (what config.json's vocab_size, n_positions, n_embd, n_layer, n_head say). */
export interface Gpt2Sizes {
  vocabSize: number;
  positions: number;
  width: number;
  layers: number;
  heads: number;
}

/** A GPT-2 config from its sizes (head size derived). */
export function gpt2Config(s: Gpt2Sizes): Gpt2Config {
  return {
    family: 'gpt2',
    vocabSize: s.vocabSize,
    layers: s.layers,
    width: s.width,
    heads: s.heads,
    headDim: s.width / s.heads,
    positions: s.positions,
  };
}

export const PRESETS: Record<string, Gpt2Config> = {
  gpt2: gpt2Config({ vocabSize: 50257, positions: 1024, width: 768, layers: 12, heads: 12 }),
  'gpt2-medium': gpt2Config({ vocabSize: 50257, positions: 1024, width: 1024, layers: 24, heads: 16 }),
  'gpt2-large': gpt2Config({ vocabSize: 50257, positions: 1024, width: 1280, layers: 36, heads: 20 }),
  'gpt2-xl': gpt2Config({ vocabSize: 50257, positions: 1024, width: 1600, layers: 48, heads: 25 }),
  /** The in-page demo reference (and shared/fixtures/ref-8L). */
  'demo-8L': gpt2Config({ vocabSize: 50257, positions: 256, width: 128, layers: 8, heads: 4 }),
};

/** Hugging Face's name of each size, for messages. */
export const HF_NAMES: Record<keyof Gpt2Sizes, string> = {
  vocabSize: 'vocab_size',
  positions: 'n_positions',
  width: 'n_embd',
  layers: 'n_layer',
  heads: 'n_head',
};

/** Structural checks every GPT-2 config must pass; messages name the config.json field. */
export function validateGpt2(c: Gpt2Config): void {
  for (const k of Object.keys(HF_NAMES) as (keyof Gpt2Sizes)[]) {
    if (!Number.isSafeInteger(c[k]) || c[k] < 1)
      throw new Error(`GPT-2 config: ${HF_NAMES[k]} must be a positive integer, got ${c[k]}`);
  }
  if (c.width % c.heads) throw new Error(`GPT-2 config: n_embd ${c.width} is not divisible by n_head ${c.heads}`);
  if (c.headDim !== c.width / c.heads)
    throw new Error(`GPT-2 config: head size ${c.headDim} is not n_embd / n_head = ${c.width / c.heads}`);
}

/** Reads a transformers GPT-2 config.json object (fields it lacks stay undefined for the caller to infer). */
export function fromHfConfig(j: Record<string, unknown>): Partial<Gpt2Sizes> {
  const num = (k: string): number | undefined => {
    const v = j[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
      throw new Error(`config.json: "${k}" must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const out: Partial<Gpt2Sizes> = {};
  const set = <K extends keyof Gpt2Sizes>(k: K, v: number | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('vocabSize', num('vocab_size'));
  set('positions', num('n_positions') ?? num('n_ctx'));
  set('width', num('n_embd'));
  set('layers', num('n_layer'));
  set('heads', num('n_head'));
  return out;
}

/** A config.json that transformers' GPT2LMHeadModel loads as is. */
export function toHfConfig(c: Gpt2Config): Record<string, unknown> {
  return {
    activation_function: 'gelu_new',
    architectures: ['GPT2LMHeadModel'],
    attn_pdrop: 0.0,
    bos_token_id: 50256,
    embd_pdrop: 0.0,
    eos_token_id: 50256,
    initializer_range: 0.02,
    layer_norm_epsilon: 1e-5,
    model_type: 'gpt2',
    n_ctx: c.positions,
    n_embd: c.width,
    n_head: c.heads,
    n_inner: null,
    n_layer: c.layers,
    n_positions: c.positions,
    resid_pdrop: 0.0,
    scale_attn_weights: true,
    summary_first_dropout: 0.0,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    use_cache: true,
    vocab_size: c.vocabSize,
  };
}

/** Floats per token of a GPT-2's widest activation: the MLP's hidden layer, 4·C. */
export function gpt2WidestActivation(c: Pick<ModelConfig, 'width'>): number {
  return 4 * c.width;
}

/**
 * A config as builds before the family seam stored it ({ vocabSize, nPositions, nEmbd, nLayer, nHead }): every such
 * model was a GPT-2.
 */
export function gpt2FromLegacy(old: Record<string, unknown>): Gpt2Config {
  const n = (k: string) => (typeof old[k] === 'number' ? (old[k] as number) : Number.NaN);
  const c = gpt2Config({
    vocabSize: n('vocabSize'),
    positions: n('nPositions'),
    width: n('nEmbd'),
    layers: n('nLayer'),
    heads: n('nHead'),
  });
  validateGpt2(c);
  return c;
}
