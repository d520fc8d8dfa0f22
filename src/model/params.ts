// The GPT-2 parameter table: Hugging Face names and shapes, the flat layout (decayed 2-D tensors first, then 1-D,
// each view 64-element aligned, packed into banks that respect the adapter's binding limit), GPT-2 init, counts.

import { Rng } from '../util/rng';
import type { Gpt2Config } from './config';
import { VIEW_ALIGN_ELEMS, type Tensor } from '../tensor/tensor';

export interface ParamSpec {
  name: string;
  shape: number[];
  size: number;
  /** Weight decay applies to 2-D tensors only (DESIGN.md). */
  decay: boolean;
}

/** Every parameter of a GPT-2, by Hugging Face name (no `transformer.` prefix), in checkpoint order. */
export function paramSpecs(c: Gpt2Config): ParamSpec[] {
  const { vocabSize: V, nPositions: P, nEmbd: C, nLayer: L } = c;
  const list: [string, number[]][] = [
    ['wte.weight', [V, C]],
    ['wpe.weight', [P, C]],
  ];
  for (let l = 0; l < L; l++) {
    const h = `h.${l}.`;
    list.push(
      [`${h}ln_1.weight`, [C]],
      [`${h}ln_1.bias`, [C]],
      [`${h}attn.c_attn.weight`, [C, 3 * C]],
      [`${h}attn.c_attn.bias`, [3 * C]],
      [`${h}attn.c_proj.weight`, [C, C]],
      [`${h}attn.c_proj.bias`, [C]],
      [`${h}ln_2.weight`, [C]],
      [`${h}ln_2.bias`, [C]],
      [`${h}mlp.c_fc.weight`, [C, 4 * C]],
      [`${h}mlp.c_fc.bias`, [4 * C]],
      [`${h}mlp.c_proj.weight`, [4 * C, C]],
      [`${h}mlp.c_proj.bias`, [C]],
    );
  }
  list.push(['ln_f.weight', [C]], ['ln_f.bias', [C]]);
  return list.map(([name, shape]) => ({
    name,
    shape,
    size: shape.reduce((a, b) => a * b, 1),
    decay: shape.length === 2,
  }));
}

/** Parameters, counted once (the head is tied to wte). With excludeWpe: the N of DESIGN.md's MFU formula. */
export function paramCount(c: Gpt2Config, opts: { excludeWpe?: boolean } = {}): number {
  return paramSpecs(c).reduce((n, p) => n + (opts.excludeWpe && p.name === 'wpe.weight' ? 0 : p.size), 0);
}

export interface ParamSlot extends ParamSpec {
  bank: number;
  /** Element offset inside its bank; a multiple of 64 so the view can be bound. */
  offset: number;
}

export interface ParamLayout {
  slots: ParamSlot[];
  /** Elements per bank (each bank is one GPU buffer per role: parameters, gradients, moments). */
  bankSizes: number[];
  /** Per bank, the end of its decayed range: [0, decayEnd) decays, [decayEnd, size) does not. */
  decayEnds: number[];
}

/**
 * Packs the parameters into as few banks as possible, each at most `maxBankElems` (the adapter's binding limit), decayed
 * tensors before non-decayed ones inside every bank so each bank needs two optimizer dispatches at most.
 */
export function paramLayout(specs: ParamSpec[], maxBankElems: number): ParamLayout {
  const align = (n: number) => Math.ceil(n / VIEW_ALIGN_ELEMS) * VIEW_ALIGN_ELEMS;
  for (const p of specs) {
    if (align(p.size) > maxBankElems) {
      throw new RangeError(
        `Parameter ${p.name} [${p.shape.join(', ')}] needs ${((p.size * 4) / 2 ** 20).toFixed(1)} MiB, more than this adapter's largest binding (${((maxBankElems * 4) / 2 ** 20).toFixed(1)} MiB, maxStorageBufferBindingSize).`,
      );
    }
  }
  const banks: { decayed: ParamSpec[]; plain: ParamSpec[]; used: number }[] = [];
  // First fit, in checkpoint order, keeps a layer's tensors together.
  for (const p of specs) {
    let bank = banks.find((b) => b.used + align(p.size) <= maxBankElems);
    if (!bank) {
      bank = { decayed: [], plain: [], used: 0 };
      banks.push(bank);
    }
    (p.decay ? bank.decayed : bank.plain).push(p);
    bank.used += align(p.size);
  }
  const slots: ParamSlot[] = [];
  const bankSizes: number[] = [];
  const decayEnds: number[] = [];
  banks.forEach((b, bank) => {
    let offset = 0;
    for (const p of [...b.decayed, ...b.plain]) {
      if (p === b.plain[0]) decayEnds.push(offset);
      slots.push({ ...p, bank, offset });
      offset += align(p.size);
    }
    if (!b.plain.length) decayEnds.push(offset);
    bankSizes.push(offset);
  });
  return { slots, bankSizes, decayEnds };
}

/**
 * Every slot's values from banks laid out by `layout` (parameters, gradients or moments): one read per bank, all
 * recorded at the call (so they are this moment's even if the banks are released meanwhile), each slot a view into
 * its bank's array.
 */
export async function readSlots(layout: ParamLayout, banks: readonly Tensor[]): Promise<Map<string, Float32Array>> {
  const host = await Promise.all(banks.map((b) => b.readF32()));
  return new Map(layout.slots.map((s) => [s.name, host[s.bank]!.subarray(s.offset, s.offset + s.size)]));
}

/**
 * GPT-2 initialisation: weights N(0, 0.02), the residual projections (attn.c_proj, mlp.c_proj) N(0, 0.02/√(2L)),
 * biases 0, LayerNorm weight 1 and bias 0. Deterministic for a seed.
 */
export function initParams(c: Gpt2Config, seed: number, only?: ReadonlySet<string>): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  const residualStd = 0.02 / Math.sqrt(2 * c.nLayer);
  const specs = paramSpecs(c);
  // With `only`: the same values for those tensors, the others' draws made and discarded (none stored), and nothing
  // drawn after the last one wanted.
  const last = only ? specs.reduce((at, p, i) => (only.has(p.name) ? i : at), -1) : specs.length - 1;
  for (const p of specs.slice(0, last + 1)) {
    const keep = !only || only.has(p.name);
    if (!keep && !p.decay) continue; // no draws
    const data = new Float32Array(keep ? p.size : 0);
    if (/ln_(1|2|f)\.weight$/.test(p.name)) data.fill(1);
    else if (p.decay) {
      const std = /(attn|mlp)\.c_proj\.weight$/.test(p.name) ? residualStd : 0.02;
      if (keep) for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
      else for (let i = 0; i < p.size; i++) rng.normal();
    }
    if (keep) out.set(p.name, data);
  }
  return out;
}
