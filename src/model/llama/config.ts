// The Llama family's configuration (Llama, Mistral, Qwen2, Qwen3, SmolLM: DESIGN.md "Llama-family checkpoint keys"):
// the config type, reading transformers' config.json with a specific refusal for everything not supported, and
// writing it back with the new layer count. Pure (no GPU code).

import type { ModelConfig } from '../family';

/** The architectures read, by config.json `model_type`, with transformers' class names. */
export const LLAMA_ARCHITECTURES: Record<string, string> = {
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
};

/** Llama 3's frequency-dependent rope scaling (rope_type "llama3"). */
export interface Llama3RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number;
}

export interface LlamaConfig extends ModelConfig {
  family: 'llama';
  /** config.json's model_type (llama, mistral, qwen2, qwen3): written back on export. */
  modelType: string;
  /** Key/value heads (KV divides H). */
  kvHeads: number;
  /** SwiGLU's hidden size I (intermediate_size). */
  intermediate: number;
  rmsEps: number;
  ropeTheta: number;
  ropeScaling: Llama3RopeScaling | null;
  /** lm_head is embed_tokens (tie_word_embeddings). */
  tied: boolean;
  /** q/k/v projections have biases (Qwen2; Llama's attention_bias, which also gives o_proj one: see oBias). */
  qkvBias: boolean;
  oBias: boolean;
  /** config.json's max_position_embeddings (`positions` is less where a sliding window caps the context). */
  hfMaxPositions: number;
  /** Per-head RMSNorm of q and k before the rotation (Qwen3). */
  qkNorm: boolean;
  /** Standard deviation of the family's normal init. */
  initStd: number;
  /**
   * config.json fields kept as the reference had them and written back on export (token ids, dtype, rope settings
   * and other fields transformers reads), minus those this config owns.
   */
  extra: Record<string, unknown>;
}

/** A config problem, naming the config.json field; `unsupported` marks a valid model we do not train. */
export class LlamaConfigError extends Error {
  constructor(
    message: string,
    readonly unsupported = false,
  ) {
    super(message);
  }
}

const supported = () =>
  Object.entries(LLAMA_ARCHITECTURES)
    .map(([t, a]) => `${a} (model_type "${t}")`)
    .join(', ');

/** Fields this config owns: not copied into `extra`. */
const OWNED = new Set([
  'model_type',
  'architectures',
  'vocab_size',
  'hidden_size',
  'num_hidden_layers',
  'num_attention_heads',
  'num_key_value_heads',
  'head_dim',
  'intermediate_size',
  'max_position_embeddings',
  'rms_norm_eps',
  'rope_theta',
  'rope_scaling',
  'tie_word_embeddings',
  'attention_bias',
  'initializer_range',
  'torch_dtype',
  'dtype',
]);

/** Reads a transformers config.json of the Llama family; every refusal names the field and what is supported. */
export function llamaFromHf(j: Record<string, unknown>): LlamaConfig {
  const modelType = j.model_type;
  if (typeof modelType !== 'string' || !(modelType in LLAMA_ARCHITECTURES))
    throw new LlamaConfigError(
      `config.json: model_type ${JSON.stringify(modelType)} is not one Inheritune Studio trains; it trains ${supported()} and GPT-2.`,
      true,
    );
  const archs = j.architectures;
  if (archs !== undefined) {
    const list = Array.isArray(archs) ? archs : [archs];
    const bad = list.find((a) => !Object.values(LLAMA_ARCHITECTURES).includes(a as string));
    if (bad !== undefined)
      throw new LlamaConfigError(
        `config.json: architecture ${JSON.stringify(bad)} is not supported; supported: ${supported()}.`,
        true,
      );
  }
  const int = (k: string, dflt?: number): number => {
    const v = j[k] ?? dflt;
    if (v === undefined) throw new LlamaConfigError(`config.json has no "${k}"`);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
      throw new LlamaConfigError(`config.json: "${k}" must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const num = (k: string, dflt: number, src: Record<string, unknown> = j): number => {
    const v = src[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw new LlamaConfigError(`config.json: "${k}" must be a non-negative number, got ${JSON.stringify(v)}`);
    return v;
  };
  const bool = (k: string, dflt: boolean): boolean => {
    const v = j[k] ?? dflt;
    if (typeof v !== 'boolean')
      throw new LlamaConfigError(`config.json: "${k}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };

  for (const k of ['num_experts', 'num_local_experts', 'n_routed_experts', 'moe_intermediate_size'])
    if (j[k] !== undefined && j[k] !== null && j[k] !== 0)
      throw new LlamaConfigError(
        `config.json: "${k}" describes a mixture-of-experts model, which is not supported.`,
        true,
      );
  const act = j.hidden_act ?? 'silu';
  if (act !== 'silu')
    throw new LlamaConfigError(
      `config.json: hidden_act "${String(act)}" is not supported (the Llama family uses "silu").`,
      true,
    );
  if (bool('mlp_bias', false)) throw new LlamaConfigError('config.json: mlp_bias true is not supported.', true);

  const width = int('hidden_size');
  const heads = int('num_attention_heads');
  const kvHeads = int('num_key_value_heads', heads);
  const headDim = int('head_dim', width % heads === 0 ? width / heads : undefined);
  // Newer transformers keep rope settings in rope_parameters; older in rope_theta + rope_scaling.
  const params = (j.rope_parameters ?? null) as Record<string, unknown> | null;
  const ropeTheta = num('rope_theta', 10000, params ?? j);
  const ropeScaling = readRopeScaling(params ?? (j.rope_scaling as Record<string, unknown> | null | undefined));
  const hfMaxPositions = int('max_position_embeddings', 2048);
  let positions = hfMaxPositions;
  // Sliding-window attention: exact while the context is no longer than the window, so the window caps the context.
  const window = j.sliding_window;
  const windowOn = modelType === 'qwen2' || modelType === 'qwen3' ? j.use_sliding_window === true : true;
  if (windowOn && typeof window === 'number' && window > 0 && window < positions) positions = window;

  // Llama's and Qwen3's attention_bias puts biases on q, k, v and o; Qwen2 always has q/k/v biases and none on o.
  const attentionBias = (modelType === 'llama' || modelType === 'qwen3') && bool('attention_bias', false);
  const config: LlamaConfig = {
    family: 'llama',
    modelType,
    vocabSize: int('vocab_size'),
    layers: int('num_hidden_layers'),
    width,
    heads,
    headDim,
    positions,
    hfMaxPositions,
    kvHeads,
    intermediate: int('intermediate_size'),
    rmsEps: num('rms_norm_eps', 1e-6),
    ropeTheta,
    ropeScaling,
    tied: bool('tie_word_embeddings', false),
    qkvBias: modelType === 'qwen2' || attentionBias,
    oBias: attentionBias,
    qkNorm: modelType === 'qwen3',
    initStd: num('initializer_range', 0.02),
    extra: Object.fromEntries(Object.entries(j).filter(([k]) => !OWNED.has(k))),
  };
  validateLlama(config);
  return config;
}

function readRopeScaling(r: Record<string, unknown> | null | undefined): Llama3RopeScaling | null {
  if (r === null || r === undefined) return null;
  const type = r.rope_type ?? r.type ?? 'default';
  if (type === 'default') return null;
  if (type !== 'llama3')
    throw new LlamaConfigError(
      `config.json: rope scaling "${String(type)}" is not supported (only none and Llama 3's "llama3").`,
      true,
    );
  const n = (k: string) => {
    const v = r[k];
    if (typeof v !== 'number' || !(v > 0))
      throw new LlamaConfigError(`config.json: rope_scaling.${k} must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  const s: Llama3RopeScaling = {
    type: 'llama3',
    factor: n('factor'),
    lowFreqFactor: n('low_freq_factor'),
    highFreqFactor: n('high_freq_factor'),
    originalMaxPositions: n('original_max_position_embeddings'),
  };
  if (s.highFreqFactor <= s.lowFreqFactor)
    throw new LlamaConfigError('config.json: rope_scaling.high_freq_factor must exceed low_freq_factor.');
  return s;
}

/** Structural checks (sizes, divisibility); messages name the config.json field. */
export function validateLlama(c: LlamaConfig): void {
  const ints: [keyof LlamaConfig, string][] = [
    ['vocabSize', 'vocab_size'],
    ['layers', 'num_hidden_layers'],
    ['width', 'hidden_size'],
    ['heads', 'num_attention_heads'],
    ['kvHeads', 'num_key_value_heads'],
    ['headDim', 'head_dim'],
    ['intermediate', 'intermediate_size'],
    ['positions', 'max_position_embeddings'],
  ];
  for (const [k, name] of ints) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
      throw new LlamaConfigError(`Llama config: ${name} must be a positive integer, got ${String(v)}`);
  }
  if (c.heads % c.kvHeads)
    throw new LlamaConfigError(
      `Llama config: num_key_value_heads ${c.kvHeads} does not divide num_attention_heads ${c.heads}`,
    );
  if (c.headDim % 2)
    throw new LlamaConfigError(`Llama config: head_dim ${c.headDim} must be even (rotary embedding pairs)`);
  if (c.headDim > 256) throw new LlamaConfigError(`Llama config: head_dim ${c.headDim} exceeds the supported 256`);
  if (c.vocabSize > 262144)
    throw new LlamaConfigError(`Llama config: vocab_size ${c.vocabSize} exceeds the supported 262,144`);
}

/** Inverse rotary frequencies θᵢ (i < D/2) for a config, with Llama 3's scaling applied when it has one. */
export function llamaInverseFrequencies(c: LlamaConfig, base: Float32Array): Float32Array {
  const s = c.ropeScaling;
  if (!s) return base;
  const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositions / s.highFreqFactor;
  return base.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) return f; // high frequencies: unchanged
    if (wavelen > lowWavelen) return f / s.factor; // low frequencies: divided by the factor
    const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}

/** A config.json transformers loads as is: the reference's fields, with this model's sizes. */
export function llamaToHf(c: LlamaConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ...c.extra,
    architectures: [LLAMA_ARCHITECTURES[c.modelType]],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.width,
    intermediate_size: c.intermediate,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    num_key_value_heads: c.kvHeads,
    head_dim: c.headDim,
    max_position_embeddings: c.hfMaxPositions,
    rms_norm_eps: c.rmsEps,
    rope_theta: c.ropeTheta,
    rope_scaling: c.ropeScaling
      ? {
          rope_type: 'llama3',
          factor: c.ropeScaling.factor,
          low_freq_factor: c.ropeScaling.lowFreqFactor,
          high_freq_factor: c.ropeScaling.highFreqFactor,
          original_max_position_embeddings: c.ropeScaling.originalMaxPositions,
        }
      : null,
    tie_word_embeddings: c.tied,
    initializer_range: c.initStd,
    torch_dtype: 'float32',
  };
  if (c.modelType === 'llama' || c.modelType === 'qwen3') out.attention_bias = c.oBias;
  // Per-layer fields (transformers checks layer_types has one entry per layer): those of the layers kept.
  if (Array.isArray(out.layer_types)) out.layer_types = (out.layer_types as unknown[]).slice(0, c.layers);
  if (typeof out.max_window_layers === 'number') out.max_window_layers = Math.min(out.max_window_layers, c.layers);
  delete out.rope_parameters; // written as rope_theta + rope_scaling, which every transformers version reads
  return out;
}

/** Floats per token of the widest activation a micro-batch holds: SwiGLU's gate, or the packed qkv. */
export function llamaWidestActivation(c: LlamaConfig): number {
  return Math.max(c.intermediate, (c.heads + 2 * c.kvHeads) * c.headDim, c.width);
}
