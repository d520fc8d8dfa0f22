// Node file access for safetensors: a ByteSource that reads only the ranges asked for (positioned reads on one
// handle, never the whole file), and an atomic writer of serialised parts. Node only; the browser uses blobSource.

import { open, rename, unlink } from 'node:fs/promises';
import { SafetensorsError, type ByteSource } from './safetensors';

export type FileSource = ByteSource & { close(): Promise<void>; readonly bytesRead: number };

export async function fileSource(path: string): Promise<FileSource> {
  const handle = await open(path, 'r');
  const { size } = await handle.stat();
  let bytesRead = 0;
  return {
    size,
    get bytesRead() {
      return bytesRead;
    },
    async read(offset, length) {
      const out = new Uint8Array(length);
      // One read() may return less than asked (and Linux caps a single read near 2 GiB), so loop to EOF or full.
      let done = 0;
      while (done < length) {
        const { bytesRead: got } = await handle.read(out, done, length - done, offset + done);
        if (got === 0) break;
        done += got;
      }
      bytesRead += done;
      return done === length ? out : out.subarray(0, done);
    },
    close: () => handle.close(),
  };
}

/**
 * Writes the parts to `path + '.tmp'`, flushes them to disk, then renames: an interrupted write never leaves a
 * half file under the real name, and a reader sees the old file or the new one, never a mix.
 */
export async function writeParts(path: string, parts: Uint8Array[]): Promise<void> {
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    for (const part of parts) await writeFully(handle, part);
    await handle.sync();
  } catch (e) {
    await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await handle.close();
  await rename(tmp, path);
}

async function writeFully(handle: Awaited<ReturnType<typeof open>>, part: Uint8Array): Promise<void> {
  let done = 0;
  while (done < part.byteLength) {
    const { bytesWritten } = await handle.write(part, done, part.byteLength - done);
    if (bytesWritten === 0) throw new SafetensorsError(`write made no progress at byte ${done} of ${part.byteLength}`);
    done += bytesWritten;
  }
}
