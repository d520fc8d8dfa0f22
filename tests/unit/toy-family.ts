// A second model family that exists only in the tests: a pre-LN decoder without linear biases, its own parameter
// names, its own config.json and a byte tokenizer (256 ids). Registering it and running the whole recipe through the
// public API proves that nothing outside src/model/gpt2/ assumes GPT-2.

import type { SafetensorsFile } from '../../src/io/safetensors';
import type { Tokenizer } from '../../src/io/tokenizer';
import { CheckpointError } from '../../src/model/checkpoint';
import type { Checkpoint, ModelConfig, ModelFamily, ParamRole, ParamSpec } from '../../src/model/family';
import { attention, embedding, layernorm, matmul, matmulGelu, type Tensor } from '../../src/tensor';
import { attentionWithProbs } from '../../src/tensor/ops/attention-probs';
import { Rng } from '../../src/util/rng';

export interface ToyConfig extends ModelConfig {
  family: 'toy';
}

export function toyConfig(s: {
  vocabSize: number;
  positions: number;
  width: number;
  layers: number;
  heads: number;
}): ToyConfig {
  return { family: 'toy', ...s, headDim: s.width / s.heads };
}

/** UTF-8 bytes as ids. */
export const byteTokenizer: Tokenizer = {
  id: 'bytes',
  vocabSize: 256,
  startToken: 10,
  encode: async (text, onProgress) => {
    const ids = Uint32Array.from(new TextEncoder().encode(text));
    onProgress?.(text.length, text.length);
    return ids;
  },
  decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids)),
};

function params(c: ToyConfig): ParamSpec[] {
  const { vocabSize: V, positions: P, width: C, layers: L } = c;
  const list: [string, number[], ParamRole, number | null][] = [
    ['tok.weight', [V, C], 'embedding', null],
    ['pos.weight', [P, C], 'positions', null],
  ];
  for (let l = 0; l < L; l++) {
    const b = `blocks.${l}.`;
    list.push(
      [`${b}norm1.weight`, [C], 'norm', l],
      [`${b}norm1.bias`, [C], 'norm', l],
      [`${b}qkv.weight`, [C, 3 * C], 'weight', l],
      [`${b}out.weight`, [C, C], 'weight', l],
      [`${b}norm2.weight`, [C], 'norm', l],
      [`${b}norm2.bias`, [C], 'norm', l],
      [`${b}up.weight`, [C, 4 * C], 'weight', l],
      [`${b}down.weight`, [4 * C, C], 'weight', l],
    );
  }
  list.push(['norm.weight', [C], 'norm', null], ['norm.bias', [C], 'norm', null]);
  return list.map(([name, shape, role, block]) => ({
    name,
    shape,
    size: shape.reduce((a, b) => a * b, 1),
    role,
    block,
    decay: shape.length === 2,
    muon: role === 'weight' ? { inputs: shape[0]!, outputs: shape[1]! } : null,
  }));
}

async function open(file: SafetensorsFile, json: Record<string, unknown> | undefined): Promise<Checkpoint<ToyConfig>> {
  if (!json) throw new CheckpointError('a toy checkpoint needs its config.json', { inConfig: true });
  const n = (k: string) => {
    const v = json[k];
    if (typeof v !== 'number') throw new CheckpointError(`config.json: ${k} must be a number`, { inConfig: true });
    return v;
  };
  const config = toyConfig({
    vocabSize: n('vocab'),
    positions: n('max_positions'),
    width: n('hidden'),
    layers: n('blocks'),
    heads: n('heads'),
  });
  for (const p of params(config)) {
    const t = file.tensors.get(p.name);
    if (!t || t.shape.join() !== p.shape.join())
      throw new CheckpointError(`toy checkpoint: ${p.name} missing or misshapen`);
  }
  return { config, notes: ['Configuration read from config.json.'], file, read: (name) => file.readF32(name) };
}

export const toy: ModelFamily<ToyConfig> = {
  id: 'toy',
  label: 'Toy',
  validate: (c) => {
    if (c.width % c.heads) throw new Error('toy: width must divide into heads');
  },
  withLayers: (c, layers) => ({ ...c, layers }),
  params,
  init: (c, seed, only) => {
    const rng = new Rng(seed);
    const out = new Map<string, Float32Array>();
    for (const p of params(c)) {
      const data = new Float32Array(p.size);
      if (p.role === 'norm' && p.name.endsWith('.weight')) data.fill(1);
      else if (p.decay) for (let i = 0; i < p.size; i++) data[i] = rng.normal() * 0.02;
      if (!only || only.has(p.name)) out.set(p.name, data);
    }
    return out;
  },
  paperCodeInit: () => new Set(['pos.weight']),
  embed: (p, _c, tokens, B, T) => embedding(tokens, B, T, p('tok.weight'), p('pos.weight')),
  block: (p, c, l, x, opts) => {
    const w = (n: string) => p(`blocks.${l}.${n}`);
    const h = layernorm(x, w('norm1.weight'), w('norm1.bias'));
    const qkv = matmul(h, w('qkv.weight'));
    let a: Tensor;
    if (opts.onProbs) {
      const { out, probs } = attentionWithProbs(qkv, c.heads);
      opts.onProbs(probs);
      a = out;
    } else a = attention(qkv, c.heads);
    const x1 = matmul(a, w('out.weight'), { residual: x });
    const h2 = layernorm(x1, w('norm2.weight'), w('norm2.bias'), { half: opts.half });
    return matmul(matmulGelu(h2, w('up.weight'), { half: opts.half }), w('down.weight'), { residual: x1 });
  },
  finalNorm: (p, _c, x) => layernorm(x, p('norm.weight'), p('norm.bias')),
  head: (p) => p('tok.weight'),
  widestActivation: (c) => 4 * c.width,
  architecture: () => 'Toy',
  kvHeads: (c) => c.heads,
  savedFloatsPerToken: (c) => 12 * c.width,
  tokenizer: (c) => (c.vocabSize >= 256 ? byteTokenizer : null),
  hf: {
    modelTypes: ['toy'],
    recognizes: (names) => names.includes('blocks.0.qkv.weight'),
    open,
    toHfConfig: (c) => ({
      model_type: 'toy',
      vocab: c.vocabSize,
      max_positions: c.positions,
      hidden: c.width,
      blocks: c.layers,
      heads: c.heads,
    }),
  },
};
