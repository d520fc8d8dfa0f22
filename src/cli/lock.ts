// One run per output folder: `run` and `train` claim DIR with a lock file holding their process id, so a second
// command on the same folder is refused (it would interleave log lines and overwrite the other's snapshots). A lock
// whose process is gone (killed, machine rebooted) is stale and taken over.

import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_FILES } from '../train/run-folder';
import { UsageError } from './args';

export const LOCK_FILE = RUN_FILES.lock;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/** Claims `dir` for this process until it exits; throws a UsageError naming the holder when another live run has it. */
export function lockOutDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder = NaN;
      try {
        holder = Number(readFileSync(path, 'utf8').trim());
      } catch {
        continue; // removed in between: try again
      }
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
        throw new UsageError(
          `${dir} is in use by another inheritune run (process ${holder}): wait for it to finish or stop it, or choose another --out`,
        );
      }
      try {
        unlinkSync(path); // stale
      } catch {
        /* another process took it over first; the next attempt says so */
      }
      continue;
    }
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    process.once('exit', () => {
      try {
        if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
      } catch {
        /* already gone */
      }
    });
    return;
  }
  throw new UsageError(`could not claim ${dir}: another inheritune run keeps taking its lock (${LOCK_FILE})`);
}
