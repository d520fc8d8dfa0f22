// The browser path: the self-check page in Debian Chromium (software WebGPU), served on 127.0.0.1.
// Every check must pass, the adapter must be shown, and no request may leave 127.0.0.1.

import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allChecks } from '../../src/selfcheck';
import { openApp, type AppSession } from './browser';

let app: AppSession;
let state: {
  done: boolean;
  adapter: string | null;
  features: string[];
  subgroupReduce: boolean | null;
  results: { name: string; pass: boolean; error: string | null; lines: string[]; ms: number }[];
  error: string | null;
};

beforeAll(async () => {
  app = await openApp('/selfcheck.html');
  await app.page.waitForFunction(() => window.__selfcheck?.done === true, null, { timeout: 600_000, polling: 500 });
  state = await app.page.evaluate(() => window.__selfcheck);
  mkdirSync('test-artifacts', { recursive: true });
  await app.page.screenshot({ path: 'test-artifacts/selfcheck.png', fullPage: true });
  console.log(
    `Chromium WebGPU adapter: ${state.adapter}; features: ${state.features.join(', ')}; row reductions ${state.subgroupReduce ? 'through subgroups' : 'in workgroup memory'}`,
  );
}, 660_000);

afterAll(async () => {
  await app?.close();
});

describe('self-check page in Chromium', () => {
  it('finds a WebGPU adapter and shows it', async () => {
    expect(state.error).toBeNull();
    expect(state.adapter).toBeTruthy();
    expect(await app.page.getByTestId('adapter').textContent()).toContain(state.adapter!);
  });

  it('reduces through subgroups exactly where the browser offers them (the checks below then test that path)', async () => {
    const can = await app.page.evaluate(() => !!navigator.gpu.wgslLanguageFeatures?.has('subgroup_id'));
    expect(state.subgroupReduce).toBe(can && state.features.includes('subgroups'));
    expect(await app.page.getByTestId('adapter').textContent()).toContain(
      state.subgroupReduce ? 'through subgroups' : 'in workgroup memory',
    );
  });

  for (const check of allChecks) {
    it(`${check.name} passes in the browser`, () => {
      const r = state.results.find((x) => x.name === check.name);
      expect(r, `check ${check.name} did not run`).toBeDefined();
      console.log(`${check.name} (${r!.ms.toFixed(0)} ms)\n  ${r!.lines.join('\n  ')}`);
      expect(r!.error).toBeNull();
      expect(r!.lines.filter((l) => l.startsWith('FAIL'))).toEqual([]);
      expect(r!.pass).toBe(true);
    });
  }

  it('reports the summary as passed', async () => {
    expect(await app.page.getByTestId('selfcheck-summary').getAttribute('data-status')).toBe('pass');
  });

  it('makes no request outside 127.0.0.1 and logs no page error', () => {
    expect(app.external).toEqual([]);
    expect(app.errors).toEqual([]);
  });
});
