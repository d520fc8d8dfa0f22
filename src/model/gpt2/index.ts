// The GPT-2 family (DESIGN.md "GPT-2 checkpoint keys", "GPT-2 forward"): everything the rest of the engine knows of
// GPT-2 comes through this object.

import { gpt2Bpe } from '../../io/tokenizer';
import type { ModelFamily } from '../family';
import { gpt2Hf } from './checkpoint';
import { type Gpt2Config, gpt2FromLegacy, gpt2WidestActivation, validateGpt2 } from './config';
import { gpt2Block, gpt2Embed, gpt2FinalNorm, gpt2Head } from './forward';
import { GPT2_PAPER_CODE_INIT, gpt2HalfWidth, gpt2Init, gpt2Params } from './params';

export const gpt2: ModelFamily<Gpt2Config> = {
  id: 'gpt2',
  label: 'GPT-2',
  validate: validateGpt2,
  withLayers: (c, layers) => ({ ...c, layers }),
  params: gpt2Params,
  init: gpt2Init,
  paperCodeInit: () => GPT2_PAPER_CODE_INIT,
  halfWidth: gpt2HalfWidth,
  embed: gpt2Embed,
  block: gpt2Block,
  finalNorm: gpt2FinalNorm,
  head: (p) => gpt2Head(p),
  widestActivation: gpt2WidestActivation,
  architecture: () => 'GPT-2',
  kvHeads: (c) => c.heads,
  // ln_1 in and out, qkv (3C), attention out, the residual after it, ln_2 out, c_fc's pre-activation and GELU (4C each).
  savedFloatsPerToken: (c) => 16 * c.width,
  // GPT-2 BPE's ids run to 50,256: a model with a smaller vocabulary cannot take them.
  tokenizer: (c) => (c.vocabSize >= gpt2Bpe.vocabSize ? gpt2Bpe : null),
  hf: gpt2Hf,
  fromLegacyConfig: gpt2FromLegacy,
};

export { type Gpt2Config, gpt2Config, PRESETS } from './config';
