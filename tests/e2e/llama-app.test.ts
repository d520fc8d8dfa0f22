// A Llama-family reference through the page, in Debian Chromium (software WebGPU): the llama-8L fixture folder's
// files and the corpus are dropped in; the reference card shows the family, the heads, the tokenizer and the memory
// estimate; the reference's validation loss equals `inheritune eval` on the same windows; a short Inheritune run
// (n = 6, growing to 8) finishes; the export parses as transformers' layout with the reference's tokenizer files
// unchanged. Screenshots go to test-artifacts/llama-*.png.

import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bytesSource } from '../../src/io/safetensors';
import { openCheckpoint } from '../../src/model/checkpoint';
import { llamaParams } from '../../src/model/llama/params';
import type { LlamaConfig } from '../../src/model/llama';
import { evalJson } from '../unit/cli-in-process';
import { type AppSession, openApp } from './browser';

const DIR = join(__dirname, '../../../shared/fixtures/llama-8L');
const TEXT = join(__dirname, '../../../shared/data/tinyshakespeare.txt');
const ART = 'test-artifacts';
mkdirSync(ART, { recursive: true });

let app: AppSession | null = null;
afterAll(async () => {
  await app?.close();
});

describe('a Llama-family reference in the page', () => {
  it('llama-8L folder + corpus: family card and memory estimate, val loss equal to the CLI, a run, an export that parses', async () => {
    app = await openApp('/');
    const { page } = app;
    await page.waitForFunction(() => window.__inheritune?.state().gpu.status === 'ready', null, { timeout: 120_000 });
    for (const [k, v] of Object.entries({
      ctx: '16',
      evalWindows: '2',
      batch: '1',
      stepsPerRound: '1',
      warmup: '0',
      evalEvery: '0',
      checkpointEvery: '0',
    }))
      await page.getByTestId(`setting-${k}`).fill(v);
    await page
      .getByTestId('checkpoint-input')
      .setInputFiles(
        ['model.safetensors', 'config.json', 'tokenizer.json', 'tokenizer_config.json'].map((f) => join(DIR, f)),
      );
    await page.getByTestId('corpus-input').setInputFiles(TEXT);
    await page.waitForFunction(() => window.__inheritune!.state().refVal !== null, null, {
      timeout: 900_000,
      polling: 500,
    });
    expect(await page.getByTestId('ref-architecture').textContent()).toBe('LlamaForCausalLM');
    expect(await page.getByTestId('ref-shape').textContent()).toMatch(
      /8 layers × 128 wide, 4 query heads \/ 2 key-value heads of 32/,
    );
    expect(await page.getByTestId('reference').textContent()).toMatch(/32,000 \(the folder's tokenizer\.json, BPE\)/);
    expect(await page.getByTestId('memory-estimate').textContent()).toMatch(
      /params .* gradients .* optimizer .* activations .* backward sums ≤ .* per binding/,
    );
    await page.screenshot({ path: join(ART, 'llama-1-reference.png'), fullPage: true });

    // The page's reference loss is the CLI's on the same windows (the corpus tokenized in the worker, in pieces).
    const refVal = Number(await page.evaluate(() => window.__inheritune!.state().refVal?.valLoss));
    const cli = await evalJson(['--model', DIR, '--data', TEXT, '--ctx', '16', '--windows', '2']);
    console.log(`llama-8L in the page: reference val loss ${refVal} vs the CLI's ${cli.val_loss}`);
    expect(Math.abs(refVal - cli.val_loss)).toBeLessThan(1e-5);

    await page.getByTestId('setting-n').fill('6');
    await page.getByTestId('start').click();
    await page.waitForFunction(() => ['done', 'halted'].includes(window.__inheritune!.state().stage), null, {
      timeout: 1_500_000,
      polling: 500,
    });
    const report = await page.evaluate(() => window.__inheritune!.state().report);
    expect(report?.status).toBe('done');
    expect(report?.rounds[0]?.n).toBe(6);
    await page.screenshot({ path: join(ART, 'llama-2-done.png'), fullPage: true });

    const downloads: { name: string; bytes: Buffer }[] = [];
    page.on('download', async (d) =>
      downloads.push({ name: d.suggestedFilename(), bytes: readFileSync((await d.path())!) }),
    );
    await page.getByTestId('export').click();
    await expect.poll(() => downloads.length, { timeout: 120_000, interval: 250 }).toBe(4);
    const get = (n: string) => downloads.find((d) => d.name === n)!.bytes;
    const configJson = get('config.json').toString('utf8');
    expect(JSON.parse(configJson).num_hidden_layers).toBe(report!.final!.n);
    expect(get('tokenizer.json').equals(readFileSync(join(DIR, 'tokenizer.json')))).toBe(true);
    expect(get('tokenizer_config.json').equals(readFileSync(join(DIR, 'tokenizer_config.json')))).toBe(true);
    const ckpt = await openCheckpoint(bytesSource(new Uint8Array(get('model.safetensors'))), { configJson });
    const want = llamaParams(ckpt.config as LlamaConfig);
    expect([...ckpt.file.tensors.keys()]).toEqual(want.map((p) => p.name));
    for (const p of want) expect(ckpt.file.tensors.get(p.name)!.shape).toEqual(p.shape);
    expect(app.external).toEqual([]);
  }, 2_400_000);
});
