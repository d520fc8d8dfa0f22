// The bad-input catalogue in the page (Debian Chromium, software WebGPU): each mistake gets its specific message, in
// the error area for files and beside the field for settings, and the app keeps working (what was loaded stays, a
// valid run still starts). Also: a second run from another tab is refused while one runs, and a browser without a
// WebGPU adapter gets the page that says why. No request may leave 127.0.0.1.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSafetensors } from '../../src/io/safetensors-write';
import { CHROMIUM_ARGS, openApp, type AppSession } from './browser';

const FIX = join(__dirname, '../../../shared/fixtures');
const TEXT = join(__dirname, '../../../shared/data/tinyshakespeare.txt');

const sessions: AppSession[] = [];
afterAll(async () => {
  for (const s of sessions) await s.close();
});

async function waitGpu(page: Page): Promise<string> {
  await page.waitForFunction(
    () => !!window.__inheritune && window.__inheritune.state().gpu.status !== 'starting',
    null,
    { timeout: 120_000 },
  );
  return page.evaluate(() => window.__inheritune!.state().gpu.status);
}

/** Waits for an item in the error area whose text matches `re`. */
const errorShown = (page: Page, re: RegExp) =>
  page.waitForFunction(
    (src) =>
      [...document.querySelectorAll('[data-testid="error-item"]')].some((e) =>
        new RegExp(src).test(e.textContent ?? ''),
      ),
    re.source,
    { timeout: 300_000, polling: 200 },
  );

const fieldError = (page: Page, key: string) =>
  page.getByTestId(`setting-${key}`).locator('xpath=..').locator('.field-error');

async function fill(page: Page, s: Record<string, string>): Promise<void> {
  for (const [k, v] of Object.entries(s)) await page.getByTestId(`setting-${k}`).fill(v);
}

const bytes = (name: string, data: Uint8Array | string, mimeType = 'application/octet-stream') => ({
  name,
  mimeType,
  buffer: Buffer.from(data),
});

describe('bad input in the page', () => {
  it('files and settings: a specific message each, nothing lost; a second tab cannot start a run while one runs', async () => {
    const app = await openApp();
    sessions.push(app);
    const { page } = app;
    expect(await waitGpu(page)).toBe('ready');
    await fill(page, {
      ctx: '16',
      evalWindows: '2',
      batch: '2',
      stepsPerRound: '400',
      warmup: '0',
      evalEvery: '0',
      checkpointEvery: '0',
    });

    // Corpora: empty, binary, then one too short for a validation window of the context.
    const corpus = page.getByTestId('corpus-input');
    await corpus.setInputFiles(bytes('empty.txt', '', 'text/plain'));
    await errorShown(page, /empty\.txt is empty: give a text file/);
    await corpus.setInputFiles(bytes('data.txt', new Uint8Array([0x50, 0x4b, 3, 4, 0, 0]), 'text/plain'));
    await errorShown(page, /data\.txt looks binary/);
    await corpus.setInputFiles(
      bytes('short.txt', 'To be, or not to be, that is the question. '.repeat(10), 'text/plain'),
    );
    await page.waitForFunction(() => window.__inheritune!.state().corpus?.label === 'short.txt', null, {
      timeout: 120_000,
    });
    await expect
      .poll(() => fieldError(page, 'ctx').textContent())
      .toMatch(/context 16 is too long for this corpus: its validation split \(last 10%\) has \d+ tokens/);
    await corpus.setInputFiles(TEXT);
    await page.waitForFunction(() => window.__inheritune!.state().corpus?.label === 'tinyshakespeare.txt', null, {
      timeout: 300_000,
    });
    expect(await fieldError(page, 'ctx').count()).toBe(0);

    // Checkpoints: not safetensors, a Llama checkpoint, config.json disagreeing with the tensors; then the good one.
    const ckpt = page.getByTestId('checkpoint-input');
    await ckpt.setInputFiles(bytes('model.safetensors', 'this is not a safetensors file'));
    await errorShown(page, /model\.safetensors: .*header/i);
    const llama = Buffer.concat(
      writeSafetensors([{ name: 'model.layers.0.self_attn.q_proj.weight', shape: [2, 2], data: new Float32Array(4) }]),
    );
    await ckpt.setInputFiles(bytes('model.safetensors', llama));
    await errorShown(
      page,
      /not a checkpoint Inheritune Studio reads \(GPT-2 .*\); found 1 tensors such as model\.layers\.0/,
    );
    const config = JSON.parse(readFileSync(join(FIX, 'tiny-2L/config.json'), 'utf8')) as Record<string, unknown>;
    await ckpt.setInputFiles([
      bytes('model.safetensors', readFileSync(join(FIX, 'tiny-2L/model.safetensors'))),
      bytes('config.json', JSON.stringify({ ...config, n_embd: 64 }), 'application/json'),
    ]);
    await errorShown(
      page,
      /config\.json disagrees with the tensors: n_embd is 64 in config\.json but 32 in the checkpoint/,
    );
    await ckpt.setInputFiles([join(FIX, 'tiny-2L/model.safetensors'), join(FIX, 'tiny-2L/config.json')]);
    await page.waitForFunction(() => window.__inheritune!.state().reference?.layers === 2, null, { timeout: 300_000 });
    await page.waitForFunction(() => window.__inheritune!.state().analysis !== null, null, {
      timeout: 600_000,
      polling: 500,
    });

    // Settings, checked beside each field against the reference and the adapter; Start stays disabled meanwhile.
    const start = page.getByTestId('start');
    const expectField = async (settings: Record<string, string>, key: string, re: RegExp) => {
      await fill(page, settings);
      await expect.poll(() => fieldError(page, key).textContent()).toMatch(re);
      expect(await start.isDisabled()).toBe(true);
    };
    // The same messages as the worker's and the CLI's (the schema's).
    await expectField({ n: '0' }, 'n', /n must be at least 1 \(n = 0 inherits no transformer block\): pick 1 to 1/);
    await expectField(
      { n: '2' },
      'n',
      /n = 2 inherits the whole 2-block reference and leaves nothing to grow: pick 1 to 1/,
    );
    await expectField({ n: '3' }, 'n', /n = 3 is more than the reference's 2 blocks: pick 1 to 1/);
    await fill(page, { n: '1' });
    expect(await page.getByTestId('plan').textContent()).toMatch(
      /rounds at 1 → 2 blocks.*k − n = 1 is odd, so the last grow adds 1 block instead of 2/,
    );
    await expectField(
      { ctx: '65' },
      'ctx',
      /context must be a whole number from 1 to 64 \(the reference's positions\), got 65/,
    );
    await expectField(
      { ctx: '64', batch: '40000' },
      'batch',
      /batch 40000 × context 64 needs a 1\.22 GiB activation buffer .* over this adapter's max\w+ of 1\.00 GiB by 226\.0 MiB: use batch ≤ 32768/,
    );
    await fill(page, { ctx: '16', batch: '2' });
    await expect.poll(() => start.isEnabled()).toBe(true);

    // A valid run starts; a second tab of the same profile cannot start another (it would share the saved-run folder).
    await start.click();
    await page.waitForFunction(() => window.__inheritune!.state().stage === 'running', null, { timeout: 300_000 });
    const tab2 = await app.openTab();
    expect(await waitGpu(tab2)).toBe('ready');
    await tab2.getByTestId('demo').click();
    await errorShown(tab2, /A run is under way in another tab of Inheritune Studio/);
    expect(await tab2.evaluate(() => window.__inheritune!.state().stage)).not.toBe('demo-reference');
    await page.getByTestId('stop').click();
    await page.waitForFunction(() => ['stopped', 'paused', 'done'].includes(window.__inheritune!.state().stage), null, {
      timeout: 600_000,
    });
    expect(app.external).toEqual([]);
    expect(app.errors.filter((e) => /CSP violation/.test(e))).toEqual([]);
  }, 1_800_000);

  it('no WebGPU adapter (Chromium on Linux without --enable-unsafe-webgpu): the page says so, why, and what to do', async () => {
    const app = await openApp('/', { args: CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu') });
    sessions.push(app);
    expect(await waitGpu(app.page)).toBe('unavailable');
    await app.page.getByTestId('no-webgpu').waitFor();
    expect(await app.page.getByTestId('no-webgpu').textContent()).toMatch(
      /WebGPU is not available.*--enable-unsafe-webgpu/s,
    );
    expect(await app.page.getByTestId('no-webgpu-reason').textContent()).toMatch(/No WebGPU adapter was found/);
    expect(app.external).toEqual([]);
  }, 300_000);
});
