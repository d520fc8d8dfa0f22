// RunStore in memory: for tests, and the fallback when a browser has no OPFS (the run works but cannot survive a reload).

import { bytesSource } from '../io/safetensors';
import type { RunStore } from './snapshot';

export function memoryStore(): RunStore & { files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  return {
    files,
    async write(name, parts) {
      files.set(name, new Uint8Array(await new Blob(parts as Uint8Array<ArrayBuffer>[]).arrayBuffer()));
    },
    async writeBlob(name, blob, onProgress) {
      files.set(name, new Uint8Array(await blob.arrayBuffer()));
      onProgress?.(blob.size, blob.size);
    },
    async open(name) {
      const f = files.get(name);
      return f ? bytesSource(f) : null;
    },
    async remove(name) {
      files.delete(name);
    },
  };
}
