// RunStore on the browser's origin-private file system (OPFS), one folder per run. A FileSystemWritableFileStream
// writes to a swap file that replaces the real one only on close(), so a tab closed mid-write keeps the previous
// snapshot whole.

import { blobSource } from '../io/safetensors';
import type { RunStore } from './snapshot';

/** Bytes per write when streaming a Blob in (progress granularity; memory stays at one piece). */
const PIECE = 16 << 20;

export async function opfsStore(folder: string): Promise<RunStore> {
  if (!navigator.storage?.getDirectory)
    throw new Error('This browser has no origin-private file system (OPFS): runs cannot be saved for resuming.');
  const root = await navigator.storage.getDirectory();
  const dir = await root.getDirectoryHandle(folder, { create: true });
  const writeWith = async (name: string, fill: (w: FileSystemWritableFileStream) => Promise<void>) => {
    const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
    try {
      await fill(w);
      await w.close();
    } catch (e) {
      await w.abort().catch(() => undefined);
      throw quotaMessage(e, name);
    }
  };
  return {
    write: (name, parts) =>
      writeWith(name, async (w) => {
        for (const p of parts) await w.write(p as Uint8Array<ArrayBuffer>);
      }),
    writeBlob: (name, blob, onProgress) =>
      writeWith(name, async (w) => {
        for (let at = 0; at < blob.size; at += PIECE) {
          await w.write(await blob.slice(at, at + PIECE).arrayBuffer());
          onProgress?.(Math.min(blob.size, at + PIECE), blob.size);
        }
        if (blob.size === 0) onProgress?.(0, 0);
      }),
    async open(name) {
      let h: FileSystemFileHandle;
      try {
        h = await dir.getFileHandle(name);
      } catch {
        return null;
      }
      return blobSource(await h.getFile());
    },
    async remove(name) {
      await dir.removeEntry(name).catch(() => undefined);
    },
  };
}

function quotaMessage(e: unknown, name: string): Error {
  const err = e as Error;
  if (err?.name === 'QuotaExceededError') {
    return new Error(
      `The browser's storage quota is full: ${name} could not be saved. Free space (or clear this site's data) to keep resumable checkpoints.`,
    );
  }
  return err instanceof Error ? err : new Error(String(e));
}
