// The page's entry: mounts the UI, starts the engine worker (which owns the GPU) and wires its events into the store.

import { createRoot } from 'react-dom/client';
import { App } from './ui/App';
import { connectStore, useApp } from './ui/store';
import { comparisonByFlops, comparisonByTokens, series } from './ui/series';
import { startEngine } from './worker/client';

declare global {
  interface Window {
    /** Read-only view for end-to-end tests (and the curious): the store and the chart series. */
    __inheritune?: {
      state: () => ReturnType<typeof useApp.getState>;
      series: typeof series;
      comparison: { tokens: typeof comparisonByTokens; flops: typeof comparisonByFlops };
    };
  }
}

const engine = startEngine((e) => useApp.getState().handle(e));
connectStore((cmd) => engine.send(cmd));
window.__inheritune = {
  state: () => useApp.getState(),
  series,
  comparison: { tokens: comparisonByTokens, flops: comparisonByFlops },
};
createRoot(document.getElementById('app')!).render(<App />);
engine.send({ type: 'init' });
