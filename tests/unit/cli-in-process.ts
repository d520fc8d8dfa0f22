// `inheritune eval --json` run in the test's own process (no build, no spawn), its output captured.

import { expect, vi } from 'vitest';
import { evalCommand } from '../../src/cli/eval';

export interface EvalJson {
  val_loss: number;
  layers: number;
  tokens: { total: number };
}

export async function evalJson(argv: string[]): Promise<EvalJson> {
  const out: string[] = [];
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out.push(String(s));
    return true;
  });
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    expect(await evalCommand([...argv, '--json'])).toBe(0);
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return JSON.parse(out.join('')) as EvalJson;
}
