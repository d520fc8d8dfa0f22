// The `inheritune` command line as a user runs it (built with Vite, spawned with node): the fixture's validation
// losses to 1e-3, and one-line errors with a non-zero exit for bad input.

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { build } from 'vite';
import { writeSafetensors } from '../../src/io/safetensors';

const ROOT = join(__dirname, '../..');
const FIX = join(ROOT, '../shared/fixtures');
const TEXT = join(ROOT, '../shared/data/tinyshakespeare.txt');
const CLI = join(ROOT, 'dist/cli/inheritune.js');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 900_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  await build({ configFile: join(ROOT, 'vite.cli.config.ts'), logLevel: 'error' });
}, 120_000);

describe('inheritune eval on ref-8L (the issue’s command)', () => {
  const expected = JSON.parse(readFileSync(join(FIX, 'ref-8L/expected.json'), 'utf8')) as Record<string, number>;
  it.each([['full', []], ['layers_4', ['--layers', '4']]] as const)('%s matches expected.json to 1e-3', (key, extra) => {
    const r = cli('eval', '--model', join(FIX, 'ref-8L'), '--data', TEXT, '--ctx', '128', '--windows', '20', '--json', ...extra);
    expect(r.stderr).not.toMatch(/\n\s+at /); // never a stack trace
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { val_loss: number; layers: number; ctx: number; windows: number };
    console.log(`ref-8L ${key}: ${out.val_loss} vs PyTorch ${expected[key]} (${JSON.stringify(out)})`);
    expect(out.ctx).toBe(128);
    expect(out.windows).toBe(20);
    expect(Math.abs(out.val_loss - expected[key]!)).toBeLessThan(1e-3);
  }, 900_000);
});

describe('inheritune errors: one line, non-zero exit, no stack trace', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'inheritune-cli-'));
  const llama = join(tmp, 'llama.safetensors');
  const garbage = join(tmp, 'garbage.safetensors');
  const binary = join(tmp, 'corpus.bin');
  beforeAll(() => {
    const parts = writeSafetensors([
      { name: 'model.embed_tokens.weight', shape: [4, 2], data: new Float32Array(8) },
      { name: 'model.layers.0.self_attn.q_proj.weight', shape: [2, 2], data: new Float32Array(4) },
    ]);
    writeFileSync(llama, Buffer.concat(parts));
    writeFileSync(garbage, 'this is not a safetensors file at all');
    writeFileSync(binary, Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0x10]));
  });
  const cases: [string, string[], RegExp][] = [
    ['no command', [], /usage: inheritune/],
    ['unknown command', ['train-everything'], /unknown command "train-everything"/],
    ['unknown option', ['eval', '--model', 'x', '--data', 'y', '--bogus', '1'], /unknown option --bogus/],
    ['missing --data', ['eval', '--model', join(FIX, 'tiny-2L')], /--data is required/],
    ['model not found', ['eval', '--model', '/nonexistent/model', '--data', TEXT], /model not found: \/nonexistent\/model/],
    ['not safetensors', ['eval', '--model', garbage, '--data', TEXT], /header length .* exceeds|needs 8\+/],
    ['not GPT-2', ['eval', '--model', llama, '--data', TEXT], /not a GPT-2 checkpoint \(it looks Llama/],
    ['--layers 0', ['eval', '--model', join(FIX, 'tiny-2L'), '--data', TEXT, '--layers', '0'], /--layers must be an integer from 1 to 2/],
    ['--ctx above n_positions', ['eval', '--model', join(FIX, 'tiny-2L'), '--data', TEXT, '--ctx', '65'], /--ctx must be from 1 to the model's n_positions 64, got 65/],
    ['binary corpus', ['eval', '--model', join(FIX, 'tiny-2L'), '--data', binary], /looks binary/],
    ['too many windows', ['eval', '--model', join(FIX, 'tiny-2L'), '--data', TEXT, '--ctx', '64', '--windows', '100000'], /only \d+ windows of ctx 64 fit/],
  ];
  it.each(cases)('%s', (_name, args, message) => {
    const r = cli(...args);
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    if (args.length) expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('inheritune:')).length).toBe(1);
  });
});
