// The UI side of the worker boundary: starts the engine worker and carries typed commands and events.

import type { Command, WorkerEvent } from './protocol';

export interface EngineClient {
  send(cmd: Command): void;
}

export function startEngine(onEvent: (e: WorkerEvent) => void): EngineClient {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'inheritune-engine' });
  worker.addEventListener('message', (ev: MessageEvent<WorkerEvent>) => onEvent(ev.data));
  worker.addEventListener('error', (ev) => {
    onEvent({
      type: 'error',
      scope: 'gpu',
      code: 'internal',
      message: `The engine worker failed to start or crashed: ${ev.message || 'unknown error'}. Reload the page; the last checkpoint is kept.`,
    });
  });
  return { send: (cmd) => worker.postMessage(cmd) };
}
