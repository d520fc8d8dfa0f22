// A run's inputs, fingerprinted when it starts and checked when it resumes: the reference by its sizes and the small
// tensors outside its blocks (position table, final norm: cheap to read, different in every trained model), the corpus
// by its train and validation tokens. A resume with another reference or corpus is refused with the reason.

import type { ModelConfig } from '../model/family';
import { paramSpecs } from '../model/params';
import { Fingerprint } from '../util/fingerprint';
import type { ReadParam } from './inherit';

export interface InputPrints {
  reference: string;
  corpus: { train: number; val: number; print: string };
}

/**
 * A token stream's bytes as fingerprinted: as uint16 when every id fits (the width streams had before they became
 * uint32, so runs saved then still match), else as uint32.
 */
function tokenBytes(ids: Uint32Array): ArrayBufferView {
  for (let i = 0; i < ids.length; i++) if (ids[i]! > 0xffff) return ids;
  return Uint16Array.from(ids);
}

export async function inputPrints(
  ref: { config: ModelConfig; read: ReadParam },
  data: { train: Uint32Array; val: Uint32Array },
): Promise<InputPrints> {
  const c = ref.config; // field by field: configs built in different places list their keys in different orders
  const r = new Fingerprint().number(c.vocabSize).number(c.positions).number(c.width).number(c.layers).number(c.heads);
  for (const p of paramSpecs(c))
    if (p.block === null && p.role !== 'embedding' && p.role !== 'head') r.bytes(await ref.read(p.name));
  const print = new Fingerprint().bytes(tokenBytes(data.train)).bytes(tokenBytes(data.val)).hex();
  return { reference: r.hex(), corpus: { train: data.train.length, val: data.val.length, print } };
}

/** Why a snapshot made from `was` cannot resume with these inputs, or null. */
export function resumeProblem(was: InputPrints, now: InputPrints): string | null {
  if (now.reference !== was.reference)
    return 'the snapshot was trained from another reference checkpoint than this one: resume with the reference the run started from';
  const [a, b] = [was.corpus, now.corpus];
  if (b.print === a.print) return null;
  const n = (x: number) => x.toLocaleString('en-US');
  const same = b.train === a.train && b.val === a.val ? ', different tokens' : '';
  return (
    `the snapshot was trained on another corpus (${n(a.train)} training + ${n(a.val)} validation tokens) than this one ` +
    `(${n(b.train)} + ${n(b.val)}${same}): resume with the corpus the run started from`
  );
}
