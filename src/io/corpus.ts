// Token streams → what training and evaluation consume: the train/validation split, the fixed validation windows
// (DESIGN.md "Validation loss") and random training batches. Browser-safe, CPU only.

import type { Rng } from '../util/rng';

/**
 * A corpus file's bytes as text: refuses empty files, binary files (NUL bytes) and invalid UTF-8 with a message naming
 * `label`.
 * The CLI and the browser engine both read corpora through it.
 */
export function decodeText(bytes: Uint8Array, label: string): string {
  if (bytes.includes(0)) throw new Error(`${label} looks binary (it contains NUL bytes): give a UTF-8 text file`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${label} is not valid UTF-8 text`);
  }
  if (!text.trim())
    throw new Error(`${label} is empty${bytes.length ? ' (only whitespace)' : ''}: give a text file to train on`);
  return text;
}

/** Token ids laid out [B, T] row-major (int32: what the GPU embedding gather reads). */
export interface TokenBatch {
  inputs: Int32Array; // [B, T]
  targets: Int32Array; // [B, T]
}

/**
 * Tokens before floor(0.9·N) train, the rest validate. Views, not copies. Math.floor(0.9 * N) is the same IEEE
 * product as Python's int(0.9 * len(data)) that made the fixtures; it never rounds below the exact 9N/10.
 */
export function splitTokens(tokens: Uint32Array): { train: Uint32Array; val: Uint32Array } {
  const n = Math.floor(0.9 * tokens.length);
  return { train: tokens.subarray(0, n), val: tokens.subarray(n) };
}

function checkPositiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
}

/** How many validation windows of `ctx` fit: window i reads tokens i·ctx … i·ctx+ctx (ctx+1 of them, the last shared with the next window). */
export function maxWindows(valLength: number, ctx: number): number {
  checkPositiveInt('ctx', ctx);
  return valLength < 1 ? 0 : Math.floor((valLength - 1) / ctx);
}

/**
 * The first `windows` validation windows as a [W, ctx] batch: window i's inputs are tokens [i·ctx, i·ctx+ctx) and its
 * targets [i·ctx+1, i·ctx+ctx], each evaluated as its own sequence from position 0. Throws (never truncates) when
 * fewer fit, because the reference and every compared model must see the same windows.
 */
export function validationWindows(val: Uint32Array, ctx: number, windows: number): TokenBatch & { windows: number } {
  checkPositiveInt('ctx', ctx);
  checkPositiveInt('windows', windows);
  const fit = maxWindows(val.length, ctx);
  if (fit === 0) {
    throw new Error(`validation split has ${val.length} tokens; one window of ctx ${ctx} needs ${ctx + 1}`);
  }
  if (fit < windows) {
    throw new Error(
      `validation split has ${val.length} tokens: only ${fit} window(s) of ctx ${ctx} fit (${windows} need ${windows * ctx + 1}); ask for at most ${fit}`,
    );
  }
  const inputs = new Int32Array(windows * ctx);
  const targets = new Int32Array(windows * ctx);
  for (let w = 0; w < windows; w++) {
    const o = w * ctx;
    for (let t = 0; t < ctx; t++) {
      inputs[o + t] = val[o + t]!;
      targets[o + t] = val[o + t + 1]!;
    }
  }
  return { inputs, targets, windows };
}

/**
 * B random training sequences of length T, start offsets uniform in [0, train.length − T − 1] (nanoGPT's
 * randint(len − T)); targets are the inputs shifted by one. Deterministic for a given Rng state.
 */
export function sampleBatch(train: Uint32Array, B: number, T: number, rng: Rng): TokenBatch {
  checkPositiveInt('B', B);
  checkPositiveInt('T', T);
  if (train.length < T + 1) {
    throw new Error(`training split has ${train.length} tokens; a sequence of T ${T} needs ${T + 1}`);
  }
  const span = train.length - T;
  const inputs = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const o = rng.int(span);
    for (let t = 0; t < T; t++) {
      inputs[b * T + t] = train[o + t]!;
      targets[b * T + t] = train[o + t + 1]!;
    }
  }
  return { inputs, targets };
}
