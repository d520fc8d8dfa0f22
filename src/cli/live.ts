// What the CLI shows while training: a progress bar with the live metric line on stderr (rewritten in place on a
// terminal, every 10th update otherwise), and the run log as JSON lines (one object per step, eval, grow, … event).

import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function logWriter(dir: string | undefined, append: boolean): (event: object) => void {
  if (!dir) return () => undefined;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'log.jsonl');
  if (!append) writeFileSync(path, '');
  return (event) => appendFileSync(path, `${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
}

export function bar(done: number, total: number, width = 20): string {
  const filled = Math.round((width * done) / Math.max(1, total));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export function stepLine(
  prefix: string,
  e: {
    step: number;
    loss: number;
    lr: number;
    gradNorm: number;
    tokensPerSec: number;
    flopsPerSec: number;
    mfu: number | null;
    lossScale?: number;
    skipped?: boolean;
  },
  total: number,
): string {
  const mfu = e.mfu === null ? 'MFU unknown' : `MFU ${(100 * e.mfu).toFixed(1)}%`;
  const g = e.skipped
    ? `skipped (gradients overflowed; loss scale now 2^${Math.log2(e.lossScale!)})`
    : `|g| ${e.gradNorm.toFixed(3)}${e.lossScale ? ` scale 2^${Math.log2(e.lossScale)}` : ''}`;
  return (
    `${prefix}${bar(e.step + 1, total)} step ${e.step + 1}/${total} loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} ` +
    `${g} ${e.tokensPerSec.toFixed(0)} tok/s ${(e.flopsPerSec / 1e9).toFixed(2)} GFLOP/s ${mfu}`
  );
}

export function status(line: string, every: boolean): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${line}`);
  else if (every) process.stderr.write(`${line}\n`);
}

export function say(line: string): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
  process.stderr.write(`${line}\n`);
}
