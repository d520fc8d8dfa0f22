// The app as a user drives it, in Debian Chromium (software WebGPU) served on 127.0.0.1: drop the ref-8L fixture and
// the corpus, see the reference's val loss and attention map, run a short Inheritune, watch the loss and the chart,
// export and parse the model; a malformed file gives its specific error; the one-button demo trains a reference in
// the page, is paused, survives a reload (OPFS) and finishes. Screenshots of each state go to test-artifacts/app-*.png.
// No request may leave 127.0.0.1.

import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../src/model/checkpoint';
import { bytesSource } from '../../src/io/safetensors';
import { openApp, type AppSession } from './browser';

const FIX = join(__dirname, '../../../shared/fixtures');
const TEXT = join(__dirname, '../../../shared/data/tinyshakespeare.txt');
const ART = 'test-artifacts';
mkdirSync(ART, { recursive: true });

const sessions: AppSession[] = [];
afterAll(async () => {
  for (const s of sessions) await s.close();
});

async function open(path = '/'): Promise<AppSession> {
  const app = await openApp(path);
  sessions.push(app);
  await waitReady(app.page);
  return app;
}

async function waitReady(page: Page): Promise<void> {
  await page.waitForFunction(
    () => !!window.__inheritune && window.__inheritune.state().gpu.status !== 'starting',
    null,
    { timeout: 120_000 },
  );
  expect(await page.evaluate(() => window.__inheritune!.state().gpu)).toMatchObject({ status: 'ready' });
}

const stage = (page: Page) => page.getByTestId('stage').getAttribute('data-stage');
const waitStage = (page: Page, stages: string[], timeout = 900_000) =>
  page.waitForFunction((s) => s.includes(window.__inheritune!.state().stage), stages, { timeout, polling: 250 });

/** Small run settings for the software adapter, typed into the form as a user would. */
async function fillSettings(page: Page, s: Record<string, string>): Promise<void> {
  for (const [k, v] of Object.entries(s)) await page.getByTestId(`setting-${k}`).fill(v);
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ART, `app-${name}.png`), fullPage: true });
}

describe('the app in Chromium', () => {
  it('ref-8L + corpus: val loss and attention map, a short run with live loss and chart, export that parses, a specific error for a bad file', async () => {
    const app = await open();
    const { page } = app;
    await shot(page, '1-empty');
    // The header says the precision in use and what the adapter offers past it (SwiftShader: nothing to unlock).
    const precision = page.getByTestId('precision');
    expect(await precision.getAttribute('data-precision')).toBe('fp32');
    expect(await precision.getAttribute('title')).toMatch(/This adapter: no shader-f16; no subgroup matrices/);
    expect(await page.getByTestId('tensor-cores').count()).toBe(0);
    // The precision field drives it (f16-mixed runs on this adapter too: halves packed in u32 words), and back.
    await page.getByTestId('setting-precision').selectOption('f16-mixed');
    await page.waitForSelector('[data-testid="precision"][data-precision="f16-mixed"]');
    expect(await precision.getAttribute('title')).toMatch(/^Training precision: f16-mixed \(f32 master weights/);
    await page.getByTestId('setting-precision').selectOption('fp32');
    await page.waitForSelector('[data-testid="precision"][data-precision="fp32"]');
    // Settings first, so the automatic analysis already uses the small context.
    await fillSettings(page, {
      ctx: '16',
      evalWindows: '2',
      batch: '2',
      stepsPerRound: '2',
      warmup: '0',
      evalEvery: '0',
      checkpointEvery: '0',
    });
    await page
      .getByTestId('checkpoint-input')
      .setInputFiles([join(FIX, 'ref-8L/model.safetensors'), join(FIX, 'ref-8L/config.json')]);
    await page.getByTestId('corpus-input').setInputFiles(TEXT);
    await page.waitForFunction(() => window.__inheritune!.state().analysis !== null, null, {
      timeout: 900_000,
      polling: 500,
    });
    expect(await page.getByTestId('reference').textContent()).toMatch(/8/);
    const refVal = Number(await page.evaluate(() => window.__inheritune!.state().refVal?.valLoss));
    expect(refVal).toBeGreaterThan(3);
    expect(refVal).toBeLessThan(8);
    expect(await page.getByTestId('ref-val').textContent()).toContain(refVal.toFixed(3));
    expect(await page.getByTestId('heatmap').textContent()).toMatch(/\d/);
    expect(await page.getByTestId('suggested-n').textContent()).toMatch(/\d/);
    await shot(page, '2-reference');
    // The analysis filled in its suggested n; this run inherits 6 of the 8 blocks (then grows to 8), then trains two
    // baselines on the rounds' 4 updates: stacked (4 blocks, then 8) and the reference at half width.
    await fillSettings(page, { n: '6' });
    // Asking for kd-hidden shows the kd fields (β among them) and counts the teacher in the memory estimate.
    expect(await page.getByTestId('memory-estimate').textContent()).not.toMatch(/kd teacher/);
    await page.getByTestId('setting-compare-kd-hidden').check();
    expect(await page.getByTestId('setting-kdBeta').count()).toBe(1);
    expect(await page.getByTestId('memory-estimate').textContent()).toMatch(/\+ kd teacher \d/);
    await page.getByTestId('setting-compare-kd-hidden').uncheck();
    expect(await page.getByTestId('setting-kdBeta').count()).toBe(0);
    await page.getByTestId('setting-compare-stack').check();
    await page.getByTestId('setting-compare-half-width').check();
    expect(await page.evaluate(() => window.__inheritune!.state().settings.compare)).toEqual(['stack', 'half-width']);

    expect(await page.getByTestId('metric-loss').textContent()).toBe('—');
    await page.getByTestId('start').click();
    await page.waitForFunction(
      () => /^\d+\.\d{4}$/.test(document.querySelector('[data-testid="metric-loss"]')?.textContent ?? ''),
      null,
      { timeout: 900_000, polling: 250 },
    );
    const first = await page.getByTestId('metric-loss').textContent();
    await page.waitForFunction((f) => document.querySelector('[data-testid="metric-loss"]')?.textContent !== f, first, {
      timeout: 900_000,
      polling: 250,
    });
    // The chart draws on its own schedule (a frame after the metric's render): under load it can trail the metric.
    await page.waitForFunction(
      () => Number(document.querySelector('[data-testid="chart-loss"]')?.getAttribute('data-points')) > 1,
      null,
      { timeout: 60_000, polling: 250 },
    );
    expect(await page.locator('[data-testid="chart-loss"] canvas').count()).toBeGreaterThan(0);
    expect(await page.getByTestId('metric-mfu').textContent()).toMatch(/%|unknown/);
    await shot(page, '3-running');
    await waitStage(page, ['done', 'halted']);
    expect(await stage(page)).toBe('done');
    const report = await page.evaluate(() => window.__inheritune!.state().report);
    expect(report?.status).toBe('done');
    expect(report?.rounds[0]?.n).toBe(6);
    expect(await page.getByTestId('report').textContent()).toMatch(/6/);
    // The comparison: a table row per run, and each run's val loss curve against tokens and FLOPs spent.
    expect(report?.comparison.map((r) => [r.kind, r.layers, r.width, r.steps])).toEqual([
      ['inheritune', 8, 128, 4],
      ['stack', 8, 128, 4],
      ['half-width', 8, 64, 4],
    ]);
    expect(
      await page
        .locator('[data-testid="comparison"] tbody tr')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-kind'))),
    ).toEqual(['reference', 'inheritune', 'stack', 'half-width']);
    // Downstream scores for the reference and every run (the page's tokenizer: GPT-2's BPE).
    expect(report?.reference.downstream?.passages).toBe(2);
    for (const r of report!.comparison) expect(r.top1, r.kind).toBeGreaterThanOrEqual(0);
    const curves = await page.evaluate(() => {
      const c = window.__inheritune!.comparison;
      const count = (s: typeof c.tokens, k: 'inheritune' | 'stack' | 'half-width') =>
        s.cols[k].filter((v) => v !== null).length;
      return (['inheritune', 'stack', 'half-width'] as const).map((k) => [k, count(c.tokens, k), count(c.flops, k)]);
    });
    // Val loss before training and at each round's (stage's) end: 2 rounds, 2 stages, 1 round.
    expect(curves).toEqual([
      ['inheritune', 3, 3],
      ['stack', 3, 3],
      ['half-width', 2, 2],
    ]);
    // At 64 tokens (2 updates of 2 × 16): round 0's and the stack's first stage's final val loss.
    const at64 = await page.evaluate(() => {
      const c = window.__inheritune!.comparison.tokens;
      return [c.valueAt(64, 'inheritune'), c.valueAt(64, 'stack')];
    });
    expect(at64).toEqual([report!.rounds[0]!.valLoss, report!.baselines[0]!.valLoss]);
    expect(Number(await page.getByTestId('chart-compare-tokens').getAttribute('data-points'))).toBe(8);
    expect(Number(await page.getByTestId('chart-compare-flops').getAttribute('data-points'))).toBe(8);
    await shot(page, '4-done');

    const downloads: { name: string; bytes: Buffer }[] = [];
    page.on('download', async (d) =>
      downloads.push({ name: d.suggestedFilename(), bytes: readFileSync((await d.path())!) }),
    );
    await page.getByTestId('export').click();
    await expect.poll(() => downloads.length, { timeout: 120_000, interval: 250 }).toBe(2);
    const model = downloads.find((d) => d.name === 'model.safetensors')!;
    const config = downloads.find((d) => d.name === 'config.json')!;
    const ckpt = await openCheckpoint(bytesSource(new Uint8Array(model.bytes)), {
      configJson: config.bytes.toString('utf8'),
    });
    expect(ckpt.config).toMatchObject({ layers: report!.final!.n, width: 128, heads: 4, vocabSize: 50257 });

    // A malformed checkpoint: the specific error, and the loaded reference stays.
    await page.getByTestId('checkpoint-input').setInputFiles({
      name: 'model.safetensors',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from('this is not a safetensors file'),
    });
    await page.waitForFunction(
      () => (document.querySelector('[data-testid="error"]')?.textContent ?? '').length > 0,
      null,
      { timeout: 60_000 },
    );
    const error = await page.getByTestId('error').textContent();
    console.log(`error shown: ${error}`);
    expect(error).toMatch(/model\.safetensors: .*header/i);
    expect(await page.getByTestId('reference').textContent()).toMatch(/8/);
    await shot(page, '5-error');
    expect(app.external).toEqual([]);
    expect(app.errors).toEqual([]);
  }, 1_800_000);

  it('the demo: one click trains a reference in the page, then Inheritune; paused, reloaded, resumed from OPFS, finished', async () => {
    const app = await open();
    const { page } = app;
    await page
      .getByTestId('demo-settings')
      .locator('summary')
      .click()
      .catch(() => undefined);
    for (const [k, v] of Object.entries({ layers: '2', width: '32', heads: '2', steps: '4', batch: '2', ctx: '16' }))
      await page.getByTestId(`demo-${k}`).fill(v);
    await fillSettings(page, {
      n: '1',
      ctx: '16',
      evalWindows: '2',
      batch: '2',
      stepsPerRound: '4',
      warmup: '0',
      evalEvery: '0',
      checkpointEvery: '0',
    });
    await page.getByTestId('demo').click();
    await waitStage(page, ['demo-reference'], 300_000);
    await shot(page, '6-demo-reference');
    // Pause in the middle of Inheritune's first round.
    await page.waitForFunction(
      () => {
        const s = window.__inheritune!.state();
        return s.latest?.phase === 'inheritune';
      },
      null,
      { timeout: 900_000, polling: 100 },
    );
    await page.getByTestId('pause').click();
    await waitStage(page, ['paused', 'done']);
    expect(await stage(page)).toBe('paused');
    const before = await page.evaluate(() => window.__inheritune!.state().latest!.x);

    await page.reload();
    await waitReady(page);
    await page.getByTestId('saved-banner').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('saved-banner').textContent()).toMatch(/demo reference/);
    await shot(page, '7-resume-offer');
    await page.getByTestId('resume-saved').click();
    await waitStage(page, ['done', 'halted']);
    expect(await stage(page)).toBe('done');
    const s = await page.evaluate(() => {
      const st = window.__inheritune!.state();
      return {
        report: st.report,
        reference: st.reference,
        lossPoints: window.__inheritune!.series.cols.loss.filter((v) => v !== null).length,
      };
    });
    expect(s.reference?.origin).toBe('demo');
    expect(s.report?.status).toBe('done');
    expect(s.report?.rounds.map((r) => r.n)).toEqual(s.report!.rounds.length === 1 ? [1] : [1, 2]);
    // The chart shows the whole run: the steps before the reload (replayed from the saved log) and after it.
    expect(before).toBeLessThan(3);
    expect(s.lossPoints).toBe(s.report!.rounds.reduce((a, r) => a + r.steps, 0));
    await page.getByTestId('sample').click();
    await page.waitForFunction(
      () => !window.__inheritune!.state().sample.running && window.__inheritune!.state().sample.text.length > 0,
      null,
      { timeout: 300_000 },
    );
    await shot(page, '8-demo-done');
    expect(app.external).toEqual([]);
    expect(app.errors).toEqual([]);
  }, 1_800_000);
});
