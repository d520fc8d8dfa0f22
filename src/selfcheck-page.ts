// The self-check page (selfcheck.html): acquires WebGPU in the browser, shows the adapter, and runs every engine self-check
// (the same kernels and CPU references as the test suite). The app itself is index.html.

import { acquireDevice } from './gpu/device';
import { Gpu } from './gpu/runtime';
import { allChecks, runCheck, type CheckResult } from './selfcheck';
import { el } from './dom';

interface SelfCheckState {
  done: boolean;
  adapter: string | null;
  features: string[];
  limits: Record<string, number>;
  /** Whether the reducing kernels ran through subgroups here (Gpu.subgroupReduce). */
  subgroupReduce: boolean | null;
  results: Omit<CheckResult, 'comparisons'>[];
  error: string | null;
}

declare global {
  interface Window {
    __selfcheck: SelfCheckState;
  }
}

const state: SelfCheckState = {
  done: false,
  adapter: null,
  features: [],
  limits: {},
  subgroupReduce: null,
  results: [],
  error: null,
};
window.__selfcheck = state;

async function main(): Promise<void> {
  const app = document.getElementById('app')!;
  app.append(el('h1', {}, 'Inheritune Studio — engine self-check'));
  app.append(
    el(
      'p',
      { class: 'muted' },
      'Every WebGPU kernel, forward and backward, compared with an independent f64 CPU reference, in this browser.',
    ),
  );
  const adapterCard = el('section', { class: 'card', 'data-testid': 'adapter' }, 'Looking for a WebGPU adapter…');
  const summary = el('p', { id: 'summary', 'data-testid': 'selfcheck-summary', 'data-status': 'running' }, 'Running…');
  const table = el('table');
  table.append(el('tr', {}, ''));
  table.rows[0]!.append(el('th', {}, 'check'), el('th', {}, 'kernels'), el('th', {}, 'result'));
  app.append(adapterCard, summary, el('section', { class: 'card' }));
  app.lastElementChild!.append(table);

  let gpu: Gpu;
  try {
    const acquired = await acquireDevice(navigator.gpu, 'browser');
    gpu = new Gpu(acquired);
    const d = acquired.description;
    state.adapter = d.description || `${d.vendor} ${d.architecture}`.trim() || 'unnamed adapter';
    state.features = d.features;
    state.limits = d.limits;
    state.subgroupReduce = gpu.subgroupReduce;
    adapterCard.textContent = '';
    adapterCard.append(
      el('strong', {}, `Adapter: ${state.adapter}`),
      el('div', { class: 'muted' }, `vendor ${d.vendor || '?'} · architecture ${d.architecture || '?'}`),
      el('div', { class: 'muted' }, `features: ${d.features.join(', ') || 'none'}`),
      el(
        'div',
        { class: 'muted' },
        `maxStorageBufferBindingSize ${d.limits.maxStorageBufferBindingSize} · maxBufferSize ${d.limits.maxBufferSize} · maxComputeWorkgroupStorageSize ${d.limits.maxComputeWorkgroupStorageSize}`,
      ),
      el(
        'div',
        { class: 'muted' },
        `row reductions (LayerNorm, cross-entropy): ${gpu.subgroupReduce ? 'through subgroups' : 'in workgroup memory'}`,
      ),
    );
  } catch (e) {
    state.error = (e as Error).message;
    adapterCard.className = 'card error';
    adapterCard.textContent = state.error;
    summary.dataset.status = 'fail';
    summary.textContent = 'No WebGPU: nothing was checked.';
    state.done = true;
    return;
  }

  let failed = 0;
  for (const check of allChecks) {
    const row = el('tr', { 'data-testid': `check-${check.name}` });
    const result = el('td', { class: 'pending' }, 'running…');
    row.append(el('td', {}, check.name), el('td', { class: 'muted' }, check.kernels.join(', ')), result);
    table.append(row);
    const r = await runCheck(gpu, check);
    const { comparisons: _omit, ...plain } = r;
    state.results.push(plain);
    if (!r.pass) failed++;
    result.className = r.pass ? 'pass' : 'fail';
    result.textContent = `${r.pass ? 'pass' : 'FAIL'} · ${r.comparisons.length} comparisons · ${r.ms.toFixed(0)} ms`;
    row.dataset.status = r.pass ? 'pass' : 'fail';
    const details = el(
      'pre',
      {},
      [r.error ?? '', ...r.lines.filter((l) => (!r.pass ? true : l.startsWith('FAIL')))].filter(Boolean).join('\n'),
    );
    if (details.textContent) result.append(details);
  }
  summary.dataset.status = failed ? 'fail' : 'pass';
  summary.textContent = failed
    ? `${failed} of ${allChecks.length} checks failed.`
    : `All ${allChecks.length} checks passed on ${state.adapter}.`;
  summary.className = failed ? 'fail' : 'pass';
  state.done = true;
}

void main().catch((e) => {
  state.error = (e as Error).message;
  state.done = true;
});
