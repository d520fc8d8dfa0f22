// The benchmark page in Debian Chromium (software WebGPU): the smoke-size run completes every section, the
// TensorFlow.js peer included, offers the JSON report, and nothing leaves 127.0.0.1.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../../bench/bench';
import { openApp, type AppSession } from './browser';

let app: AppSession;
let state: { done: boolean; lines: string[]; report: BenchReport | null; error: string | null };

beforeAll(async () => {
  app = await openApp('/bench.html');
  await app.page.waitForFunction(() => window.__bench?.done === true, null, { timeout: 600_000, polling: 500 });
  state = await app.page.evaluate(() => window.__bench);
  console.log(state.lines.join('\n'));
}, 660_000);

afterAll(async () => {
  await app?.close();
});

describe('benchmark page in Chromium', () => {
  it('runs every section without a failed case', async () => {
    expect(state.error).toBeNull();
    const rep = state.report!;
    expect(rep.errors).toEqual([]);
    expect(rep.runtime).toMatch(/Chrome/);
    expect(rep.matmul.every((m) => m.tflops > 0)).toBe(true);
    expect(rep.attention).toHaveLength(1);
    expect(rep.steps.map((s) => s.config)).toEqual(['tiny', 'tiny-f16', 'tiny-mixed']);
    expect(Math.abs(rep.steps[0]!.finalLoss - Math.log(512))).toBeLessThan(0.3);
    expect(rep.peers.tfjs?.steps).toHaveLength(1);
    expect(await app.page.getByTestId('bench-status').getAttribute('data-status')).toBe('pass');
    expect(await app.page.getByTestId('bench-json').getAttribute('download')).toBe('bench-ci.json');
  });

  it('makes no request outside 127.0.0.1 and logs no page error', () => {
    expect(app.external).toEqual([]);
    expect(app.errors).toEqual([]);
  });
});
