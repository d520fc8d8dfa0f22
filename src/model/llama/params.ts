// The Llama family's parameter table (transformers' names and shapes, DESIGN.md "Llama-family checkpoint keys", each
// with its role) and its initialisation.

import { Rng } from '../../util/rng';
import type { HalfWidth, ParamRole, ParamSpec } from '../family';
import { firstN, perGroup } from '../slice';
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
    ...(block !== null && role !== 'norm'
      ? { part: name.includes('.self_attn.') ? ('attn' as const) : ('mlp' as const) }
      : {}),
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

/**
 * The Llama family's half-width baseline: the same heads (and key/value heads) at half the head size, half the hidden
 * width and half of SwiGLU's channels. Each head keeps the first quarter of both of its rotary halves (dimensions
 * [0, D/4) and [D/2, 3D/4)), so the dimensions the rotation pairs (i with i + D/2) stay paired in the narrower head.
 */
export function llamaHalfWidth(c: LlamaConfig): HalfWidth<LlamaConfig> {
  const { width: C, heads: H, kvHeads: KV, headDim: D, intermediate: I } = c;
  const odd = [
    [C, 'hidden_size'],
    [I, 'intermediate_size'],
  ].find(([v]) => (v as number) % 2);
  if (odd) throw new Error(`the half-width baseline halves ${odd[1]}, which is odd (${odd[0]})`);
  if (D % 4)
    throw new Error(
      `the half-width baseline halves each head and keeps its rotary pairs: head_dim ${D} must be a multiple of 4`,
    );
  const config: LlamaConfig = { ...c, width: C / 2, headDim: D / 2, intermediate: I / 2 };
  const res = firstN(C / 2);
  const inHead = [...firstN(D / 4), ...firstN(D / 4).map((i) => i + D / 2)];
  const q = perGroup(H, D, inHead);
  const kv = perGroup(KV, D, inHead);
  const mlp = firstN(I / 2);
  const keep = (p: ParamSpec): (number[] | null)[] => {
    const n = p.name;
    if (n === EMBED || n === LM_HEAD) return [null, res];
    if (n.endsWith('layernorm.weight') || n === FINAL_NORM) return [res];
    if (n.endsWith('q_norm.weight') || n.endsWith('k_norm.weight')) return [inHead];
    if (n.endsWith('q_proj.weight')) return [q, res];
    if (n.endsWith('q_proj.bias')) return [q];
    if (/[kv]_proj\.weight$/.test(n)) return [kv, res];
    if (/[kv]_proj\.bias$/.test(n)) return [kv];
    if (n.endsWith('o_proj.weight')) return [res, q];
    if (n.endsWith('o_proj.bias')) return [res];
    if (n.endsWith('gate_proj.weight') || n.endsWith('up_proj.weight')) return [mlp, res];
    if (n.endsWith('down_proj.weight')) return [res, mlp];
    throw new Error(`half-width: no rule for Llama tensor ${n}`);
  };
  return { config, keep };
}
