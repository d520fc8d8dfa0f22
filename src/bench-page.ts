// The benchmark page (bench.html): the same benchmark as `npm run bench`, in this browser's WebGPU, with the
// TensorFlow.js peer on the same adapter. ?size=full runs the full sweep (a GPU's work), default is the smoke size.

import { runBench, type BenchReport, type BenchSize } from '../bench/bench';
import { acquireDevice } from './gpu/device';
import { Gpu } from './gpu/runtime';
import { el } from './dom';

interface BenchPageState {
  done: boolean;
  lines: string[];
  report: BenchReport | null;
  error: string | null;
}

declare global {
  interface Window {
    __bench: BenchPageState;
  }
}

const state: BenchPageState = { done: false, lines: [], report: null, error: null };
window.__bench = state;

async function main(): Promise<void> {
  const app = document.getElementById('app')!;
  const size: BenchSize = new URLSearchParams(location.search).get('size') === 'full' ? 'full' : 'ci';
  app.append(el('h1', {}, 'Inheritune Studio — benchmark'));
  app.append(
    el(
      'p',
      { class: 'muted' },
      size === 'full'
        ? 'Full size: matmul sweep, attention, GPT-2 training updates and the TensorFlow.js peer. Minutes on a GPU.'
        : 'Smoke-test size (add ?size=full for the real sweep on a GPU). Figures from a software adapter say nothing about GPU speed.',
    ),
  );
  const log = el('pre', { 'data-testid': 'bench-log' });
  const status = el('p', { 'data-testid': 'bench-status', 'data-status': 'running' }, 'Running…');
  app.append(status, log);
  const line = (l: string) => {
    state.lines.push(l);
    log.textContent += `${l}\n`;
  };
  try {
    const acquired = await acquireDevice(navigator.gpu, 'browser');
    const gpu = new Gpu(acquired);
    line(
      `adapter: ${gpu.description.description || gpu.description.device || gpu.description.vendor}; features: ${gpu.description.features.join(', ')}`,
    );
    const report = await runBench(gpu, { size, log: line });
    state.report = report;
    const blob = new Blob([JSON.stringify(report, null, 2)], { type: 'application/json' });
    const a = el(
      'a',
      { href: URL.createObjectURL(blob), download: `bench-${size}.json`, 'data-testid': 'bench-json' },
      'Download the report (JSON)',
    );
    app.append(a);
    status.textContent = report.errors.length ? `Done with ${report.errors.length} failed case(s).` : 'Done.';
    status.dataset.status = report.errors.length ? 'fail' : 'pass';
  } catch (e) {
    state.error = (e as Error).message;
    status.textContent = `Error: ${state.error}`;
    status.dataset.status = 'fail';
  } finally {
    state.done = true;
  }
}

void main();
