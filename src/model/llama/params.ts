// The Llama family's parameter table (transformers' names and shapes, DESIGN.md "Llama-family checkpoint keys", each
// with its role) and its initialisation.

import { Rng } from '../../util/rng';
import type { ParamRole, ParamSpec } from '../family';
import type { LlamaConfig } from './config';

type Entry = [name: string, shape: number[], role: ParamRole, block: number | null];

export const EMBED = 'model.embed_tokens.weight';
export const FINAL_NORM = 'model.norm.weight';
export const LM_HEAD = 'lm_head.weight';
export const layerPrefix = (l: number) => `model.layers.${l}.`;

/** Every parameter, by transformers' name, in the order transformers writes them. */
export function llamaParams(c: LlamaConfig): ParamSpec[] {
  const { vocabSize: V, width: C, layers: L, heads: H, kvHeads: KV, headDim: D, intermediate: I } = c;
  const list: Entry[] = [[EMBED, [V, C], 'embedding', null]];
  for (let l = 0; l < L; l++) {
    const p = layerPrefix(l);
    const a = `${p}self_attn.`;
    list.push([`${p}input_layernorm.weight`, [C], 'norm', l]);
    list.push([`${a}q_proj.weight`, [H * D, C], 'weight', l]);
    if (c.qkvBias) list.push([`${a}q_proj.bias`, [H * D], 'bias', l]);
    list.push([`${a}k_proj.weight`, [KV * D, C], 'weight', l]);
    if (c.qkvBias) list.push([`${a}k_proj.bias`, [KV * D], 'bias', l]);
    list.push([`${a}v_proj.weight`, [KV * D, C], 'weight', l]);
    if (c.qkvBias) list.push([`${a}v_proj.bias`, [KV * D], 'bias', l]);
    list.push([`${a}o_proj.weight`, [C, H * D], 'weight', l]);
    if (c.oBias) list.push([`${a}o_proj.bias`, [C], 'bias', l]);
    if (c.qkNorm) list.push([`${a}q_norm.weight`, [D], 'norm', l], [`${a}k_norm.weight`, [D], 'norm', l]);
    list.push(
      [`${p}post_attention_layernorm.weight`, [C], 'norm', l],
      [`${p}mlp.gate_proj.weight`, [I, C], 'weight', l],
      [`${p}mlp.up_proj.weight`, [I, C], 'weight', l],
      [`${p}mlp.down_proj.weight`, [C, I], 'weight', l],
    );
  }
  list.push([FINAL_NORM, [C], 'norm', null]);
  if (!c.tied) list.push([LM_HEAD, [V, C], 'head', null]);
  return list.map(([name, shape, role, block]) => ({
    name,
    shape,
    size: shape.reduce((x, y) => x * y, 1),
    role,
    block,
    decay: shape.length === 2,
    // nn.Linear weights are [out, in].
    muon: role === 'weight' ? { outputs: shape[0]!, inputs: shape[1]! } : null,
  }));
}

/** The tensors the authors' Llama code leaves at init when it inherits: the embedding and the final norm. */
export const LLAMA_PAPER_CODE_INIT: ReadonlySet<string> = new Set([EMBED, FINAL_NORM]);

/**
 * transformers' Llama initialisation: every linear and embedding weight N(0, initializer_range²), biases 0, RMSNorm
 * weights 1. Deterministic for a seed; with `only`, the same values for those tensors (the others' draws are made
 * and discarded, and nothing is drawn after the last one wanted).
 */
export function llamaInit(c: LlamaConfig, seed: number, only?: ReadonlySet<string>): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  const specs = llamaParams(c);
  const last = only ? specs.reduce((at, p, i) => (only.has(p.name) ? i : at), -1) : specs.length - 1;
  for (const p of specs.slice(0, last + 1)) {
    const keep = !only || only.has(p.name);
    const drawn = p.role === 'embedding' || p.role === 'weight' || p.role === 'head';
    if (!keep && !drawn) continue;
    const data = new Float32Array(keep ? p.size : 0);
    if (p.role === 'norm') data.fill(1);
    else if (drawn) {
      if (keep) for (let i = 0; i < data.length; i++) data[i] = rng.normal() * c.initStd;
      else for (let i = 0; i < p.size; i++) rng.normal();
    }
    if (keep) out.set(p.name, data);
  }
  return out;
}
