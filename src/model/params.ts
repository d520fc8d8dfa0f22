// The generic parameter machinery: a family's parameter table packed into banks (one flat buffer per role, decayed
// 2-D tensors first, each view 128-element aligned, each bank within the adapter's binding limit), per-slot reads, and
// counts.

import { type Tensor, VIEW_ALIGN_ELEMS } from '../tensor/tensor';
import type { ModelConfig, ParamSpec } from './family';
import { familyOf } from './registry';

export type { ParamSpec };

/** A config's parameter table (its family's). */
export function paramSpecs(c: ModelConfig): ParamSpec[] {
  return familyOf(c).params(c);
}

/**
 * Parameters, counted once (a tied head is the embedding). With excludePositions: without learned position tables,
 * the N of DESIGN.md's MFU formula.
 */
export function paramCount(c: ModelConfig, opts: { excludePositions?: boolean } = {}): number {
  return paramSpecs(c).reduce((n, p) => n + (opts.excludePositions && p.role === 'positions' ? 0 : p.size), 0);
}

/**
 * Element alignment of every parameter's slot in its bank: twice a view's (128), so that a slot's f16 copy (f16-mixed
 * training keeps halves at the same element offsets) starts on a 256-byte boundary too and can be bound.
 */
export const PARAM_ALIGN_ELEMS = 2 * VIEW_ALIGN_ELEMS;

export interface ParamSlot extends ParamSpec {
  bank: number;
  /** Element offset inside its bank; a multiple of PARAM_ALIGN_ELEMS so the view (and its f16 copy's) can be bound. */
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
  const align = (n: number) => Math.ceil(n / PARAM_ALIGN_ELEMS) * PARAM_ALIGN_ELEMS;
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
