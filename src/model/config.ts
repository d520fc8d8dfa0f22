// GPT-2 configuration: our type, presets, and conversion from/to Hugging Face config.json.

export interface Gpt2Config {
  vocabSize: number;
  /** Context positions (wpe rows). */
  nPositions: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
}

export const PRESETS: Record<string, Gpt2Config> = {
  gpt2: { vocabSize: 50257, nPositions: 1024, nEmbd: 768, nLayer: 12, nHead: 12 },
  'gpt2-medium': { vocabSize: 50257, nPositions: 1024, nEmbd: 1024, nLayer: 24, nHead: 16 },
  'gpt2-large': { vocabSize: 50257, nPositions: 1024, nEmbd: 1280, nLayer: 36, nHead: 20 },
  'gpt2-xl': { vocabSize: 50257, nPositions: 1024, nEmbd: 1600, nLayer: 48, nHead: 25 },
  /** The in-page demo reference (and shared/fixtures/ref-8L). */
  'demo-8L': { vocabSize: 50257, nPositions: 256, nEmbd: 128, nLayer: 8, nHead: 4 },
};

/** Structural checks every config must pass; messages name the field. */
export function validateConfig(c: Gpt2Config): void {
  for (const k of ['vocabSize', 'nPositions', 'nEmbd', 'nLayer', 'nHead'] as const) {
    if (!Number.isSafeInteger(c[k]) || c[k] < 1)
      throw new Error(`GPT-2 config: ${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.nEmbd % c.nHead) throw new Error(`GPT-2 config: n_embd ${c.nEmbd} is not divisible by n_head ${c.nHead}`);
  if (c.vocabSize > 65536)
    throw new Error(`GPT-2 config: vocab_size ${c.vocabSize} does not fit the uint16 token streams (max 65536)`);
}

/** Reads a transformers GPT-2 config.json object (fields it lacks stay undefined for the caller to infer). */
export function fromHfConfig(json: unknown): Partial<Gpt2Config> & { modelType?: string } {
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new Error('config.json is not a JSON object');
  const j = json as Record<string, unknown>;
  const num = (k: string): number | undefined => {
    const v = j[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
      throw new Error(`config.json: "${k}" must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const out: Partial<Gpt2Config> & { modelType?: string } = {};
  const set = <K extends keyof Gpt2Config>(k: K, v: number | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('vocabSize', num('vocab_size'));
  set('nPositions', num('n_positions') ?? num('n_ctx'));
  set('nEmbd', num('n_embd'));
  set('nLayer', num('n_layer'));
  set('nHead', num('n_head'));
  if (typeof j.model_type === 'string') out.modelType = j.model_type;
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
    n_ctx: c.nPositions,
    n_embd: c.nEmbd,
    n_head: c.nHead,
    n_inner: null,
    n_layer: c.nLayer,
    n_positions: c.nPositions,
    resid_pdrop: 0.0,
    scale_attn_weights: true,
    summary_first_dropout: 0.0,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    use_cache: true,
    vocab_size: c.vocabSize,
  };
}
