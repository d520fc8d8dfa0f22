// StateStore on a Node directory: atomic writes (temp file + rename), positioned reads.

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileSource, writeParts } from '../io/node-source';
import type { StateStore } from './snapshot';

export function directoryStore(dir: string): StateStore {
  return {
    async write(name, parts) {
      mkdirSync(dir, { recursive: true });
      await writeParts(join(dir, name), parts);
    },
    async open(name) {
      const path = join(dir, name);
      return existsSync(path) ? fileSource(path) : null;
    },
  };
}
