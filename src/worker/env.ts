// Where the engine's environment comes from: the GPU, the bundled demo corpus, the run folder and the cross-tab claim
// on it. The browser's is here; Node tests inject their own.

import { type Acquired, acquireDevice } from '../gpu/device';
import type { RunStore } from '../train/snapshot';

export interface EngineEnv {
  acquire(): Promise<Acquired>;
  /** The bundled demo corpus's text. */
  demoCorpus(): Promise<string>;
  /** The folder runs are saved in (OPFS in the browser); null when the browser has none. */
  runStore(): Promise<RunStore | null>;
  /**
   * Claims the one run this origin's saved-run folder can hold, across tabs; resolves to its release, or null when
   * another tab holds it. Absent: no other engine shares the folder.
   */
  claimRun?(): Promise<(() => void) | null>;
}

/** The engine wired to the browser: navigator.gpu, the bundled corpus, OPFS. */
export function browserEnv(): EngineEnv {
  return {
    acquire: () => acquireDevice(navigator.gpu, 'browser'),
    demoCorpus: async () => {
      const r = await fetch(new URL('/tinyshakespeare.txt', self.location.origin));
      if (!r.ok) throw new Error(`The demo corpus could not be loaded (HTTP ${r.status}).`);
      return r.text();
    },
    runStore: async () =>
      typeof navigator.storage?.getDirectory === 'function'
        ? (await import('../train/opfs-store')).opfsStore('inheritune-run')
        : null,
    claimRun: () =>
      new Promise((resolve, reject) => {
        if (!navigator.locks) return resolve(() => undefined); // no Web Locks: nothing to coordinate with
        // The lock is held until the returned release is called (the callback's promise settles then).
        navigator.locks
          .request('inheritune-run', { ifAvailable: true }, (lock) => {
            if (!lock) return resolve(null);
            return new Promise<void>((release) => resolve(() => release()));
          })
          .catch(reject);
      }),
  };
}
