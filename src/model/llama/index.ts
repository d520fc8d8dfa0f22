// The Llama family (Llama, Mistral, Qwen2, Qwen3, SmolLM; DESIGN.md "Llama-family checkpoint keys", "Llama-family
// forward"): everything the rest of the engine knows of these architectures comes through this object.

import { hfTokenizer } from '../../io/hf-tokenizer';
import type { ModelFamily } from '../family';
import { llamaHf } from './checkpoint';
import { LLAMA_ARCHITECTURES, type LlamaConfig, llamaWidestActivation, validateLlama } from './config';
import { llamaBlock, llamaEmbed, llamaFinalNorm, llamaHead } from './forward';
import { LLAMA_PAPER_CODE_INIT, llamaHalfWidth, llamaInit, llamaParams } from './params';

export const llama: ModelFamily<LlamaConfig> = {
  id: 'llama',
  label: 'Llama-family model',
  validate: validateLlama,
  withLayers: (c, layers) => ({ ...c, layers }),
  params: llamaParams,
  init: llamaInit,
  paperCodeInit: () => LLAMA_PAPER_CODE_INIT,
  halfWidth: llamaHalfWidth,
  embed: llamaEmbed,
  block: llamaBlock,
  finalNorm: llamaFinalNorm,
  head: llamaHead,
  widestActivation: llamaWidestActivation,
  architecture: (c) => LLAMA_ARCHITECTURES[c.modelType] ?? c.modelType,
  kvHeads: (c) => c.kvHeads,
  // x, its norm, q/k/v and their packed rotation, attention out, the residual after it, its norm, gate, up, SwiGLU.
  savedFloatsPerToken: (c) =>
    4 * c.width + 2 * (c.heads + 2 * c.kvHeads) * c.headDim + c.heads * c.headDim + 3 * c.intermediate,
  // The reference's own tokenizer.json: a Llama-family vocabulary is the checkpoint's, not one built in.
  tokenizer: (_c, files) => (files ? hfTokenizer(files) : null),
  tokenizerFromFiles: true,
  hf: llamaHf,
};

export { type LlamaConfig, llamaFromHf, LLAMA_ARCHITECTURES } from './config';
