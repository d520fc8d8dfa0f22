// StateStore on the browser's origin-private file system (OPFS), one folder per run. A FileSystemWritableFileStream
// writes to a swap file that replaces the real one only on close(), so a tab closed mid-write keeps the previous
// snapshot whole.

import { blobSource } from '../io/safetensors';
import type { StateStore } from './snapshot';

export async function opfsStore(folder: string): Promise<StateStore> {
  if (!navigator.storage?.getDirectory) throw new Error('This browser has no origin-private file system (OPFS): runs cannot be saved for resuming.');
  const root = await navigator.storage.getDirectory();
  const dir = await root.getDirectoryHandle(folder, { create: true });
  return {
    async write(name, parts) {
      const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
      try {
        for (const p of parts) await w.write(p as Uint8Array<ArrayBuffer>);
        await w.close();
      } catch (e) {
        await w.abort().catch(() => undefined);
        throw e;
      }
    },
    async open(name) {
      let h: FileSystemFileHandle;
      try {
        h = await dir.getFileHandle(name);
      } catch {
        return null;
      }
      return blobSource(await h.getFile());
    },
  };
}
