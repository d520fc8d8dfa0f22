// GPT-2's parameter table (Hugging Face names and shapes, DESIGN.md "GPT-2 checkpoint keys", each with its role) and
// its initialisation.

import { Rng } from '../../util/rng';
import type { HalfWidth, ParamRole, ParamSpec } from '../family';
import { firstN, perGroup } from '../slice';
import { type Gpt2Config, gpt2Config } from './config';

type Entry = [name: string, shape: number[], role: ParamRole, block: number | null];

/** Every parameter of a GPT-2, by Hugging Face name (no `transformer.` prefix), in checkpoint order. */
export function gpt2Params(c: Gpt2Config): ParamSpec[] {
  const { vocabSize: V, positions: P, width: C, layers: L } = c;
  const list: Entry[] = [
    ['wte.weight', [V, C], 'embedding', null],
    ['wpe.weight', [P, C], 'positions', null],
  ];
  for (let l = 0; l < L; l++) {
    const h = `h.${l}.`;
    list.push(
      [`${h}ln_1.weight`, [C], 'norm', l],
      [`${h}ln_1.bias`, [C], 'norm', l],
      [`${h}attn.c_attn.weight`, [C, 3 * C], 'weight', l],
      [`${h}attn.c_attn.bias`, [3 * C], 'bias', l],
      [`${h}attn.c_proj.weight`, [C, C], 'weight', l],
      [`${h}attn.c_proj.bias`, [C], 'bias', l],
      [`${h}ln_2.weight`, [C], 'norm', l],
      [`${h}ln_2.bias`, [C], 'norm', l],
      [`${h}mlp.c_fc.weight`, [C, 4 * C], 'weight', l],
      [`${h}mlp.c_fc.bias`, [4 * C], 'bias', l],
      [`${h}mlp.c_proj.weight`, [4 * C, C], 'weight', l],
      [`${h}mlp.c_proj.bias`, [C], 'bias', l],
    );
  }
  list.push(['ln_f.weight', [C], 'norm', null], ['ln_f.bias', [C], 'norm', null]);
  return list.map(([name, shape, role, block]) => ({
    name,
    shape,
    size: shape.reduce((a, b) => a * b, 1),
    role,
    block,
    decay: shape.length === 2,
    // Conv1D weights are stored [in, out]: the hidden matrices' outputs are their columns.
    muon: role === 'weight' ? { inputs: shape[0]!, outputs: shape[1]! } : null,
    ...(block !== null && role !== 'norm'
      ? { part: name.includes('.attn.') ? ('attn' as const) : ('mlp' as const) }
      : {}),
  }));
}

/** The tensors the authors' GPT-2 code leaves at init when it inherits. */
export const GPT2_PAPER_CODE_INIT: ReadonlySet<string> = new Set(['wpe.weight', 'ln_f.weight', 'ln_f.bias']);

/**
 * GPT-2 initialisation: weights N(0, 0.02), the residual projections (attn.c_proj, mlp.c_proj) N(0, 0.02/√(2L)),
 * biases 0, LayerNorm weight 1 and bias 0. Deterministic for a seed.
 */
export function gpt2Init(c: Gpt2Config, seed: number, only?: ReadonlySet<string>): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  const residualStd = 0.02 / Math.sqrt(2 * c.layers);
  const specs = gpt2Params(c);
  // With `only`: the same values for those tensors, the others' draws made and discarded (none stored), and nothing
  // drawn after the last one wanted.
  const last = only ? specs.reduce((at, p, i) => (only.has(p.name) ? i : at), -1) : specs.length - 1;
  for (const p of specs.slice(0, last + 1)) {
    const keep = !only || only.has(p.name);
    if (!keep && !p.decay) continue; // no draws
    const data = new Float32Array(keep ? p.size : 0);
    if (p.role === 'norm' && p.name.endsWith('.weight')) data.fill(1);
    else if (p.decay) {
      const std = /(attn|mlp)\.c_proj\.weight$/.test(p.name) ? residualStd : 0.02;
      if (keep) for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
      else for (let i = 0; i < p.size; i++) rng.normal();
    }
    if (keep) out.set(p.name, data);
  }
  return out;
}

/**
 * GPT-2's half-width baseline: the same heads at half the head size (C/2 wide), the first half of the residual
 * channels, of each head's dimensions (in q, k and v alike) and of the MLP's 4C channels.
 */
export function gpt2HalfWidth(c: Gpt2Config): HalfWidth<Gpt2Config> {
  const { width: C, heads: H, headDim: D } = c;
  if (D % 2)
    throw new Error(`the half-width baseline halves each head: head size ${D} (n_embd ${C} / n_head ${H}) is odd`);
  const config = gpt2Config({ ...c, width: C / 2 });
  const res = firstN(C / 2);
  const heads = perGroup(H, D, firstN(D / 2));
  const qkv = perGroup(3, C, heads);
  const mlp = firstN(2 * C);
  const keep = (p: ParamSpec): (number[] | null)[] => {
    const n = p.name;
    if (n === 'wte.weight' || n === 'wpe.weight') return [null, res];
    if (/\.(ln_[12]|ln_f)\./.test(n) || n.startsWith('ln_f.')) return [res];
    if (n.endsWith('attn.c_attn.weight')) return [res, qkv];
    if (n.endsWith('attn.c_attn.bias')) return [qkv];
    if (n.endsWith('attn.c_proj.weight')) return [heads, res];
    if (n.endsWith('mlp.c_fc.weight')) return [res, mlp];
    if (n.endsWith('mlp.c_fc.bias')) return [mlp];
    if (n.endsWith('mlp.c_proj.weight')) return [mlp, res];
    if (n.endsWith('c_proj.bias')) return [res];
    throw new Error(`half-width: no rule for GPT-2 tensor ${n}`);
  };
  return { config, keep };
}
