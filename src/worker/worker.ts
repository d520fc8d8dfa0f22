// The dedicated Web Worker that owns the GPU: every protocol command goes to the engine, every event goes back.
// Commands are handled concurrently (a pause arrives while a run is awaiting the GPU); the engine serialises what must be.

import { browserEnv, Engine } from './engine';
import type { Command, WorkerEvent } from './protocol';

const post = (e: WorkerEvent) => (self as unknown as Worker).postMessage(e);
const engine = new Engine(post, browserEnv());

self.addEventListener('message', (ev: MessageEvent<Command>) => void engine.handle(ev.data));
// Anything that escapes the engine still reaches the user as words, not as a silent dead worker.
self.addEventListener('unhandledrejection', (ev: PromiseRejectionEvent) => {
  post({
    type: 'error',
    scope: 'gpu',
    code: 'internal',
    message: `Unexpected engine error: ${(ev.reason as Error)?.message ?? String(ev.reason)}`,
  });
});
