// Node-only entry: loads Dawn (npm "webgpu") and finds a Vulkan driver, then hands over to acquireDevice.

import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireDevice, type Acquired } from './device';
import { WebGPUUnavailableError } from './errors';

/** Dawn instances created by this process (see acquireNodeDevice). */
const liveInstances: GPU[] = [];

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/**
 * Creates a Dawn GPU object and a device. With no Vulkan driver chosen in the environment, the installed
 * drivers are tried first; if Dawn accepts none of them (no GPU, or only Mesa's lavapipe, which Dawn
 * rejects), Debian chromium's SwiftShader driver (a CPU implementation) is used, so tests run without a GPU.
 * Dawn re-reads VK_ICD_FILENAMES for every instance it creates, so the retry sees the new value.
 */
export async function acquireNodeDevice(): Promise<Acquired> {
  // Headless machines often lack it, and the Vulkan stack then complains on every device creation.
  process.env.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'xdg-'));
  let mod: typeof import('webgpu');
  try {
    mod = await import('webgpu');
  } catch (e) {
    throw new WebGPUUnavailableError(`Could not load the npm package "webgpu": ${(e as Error).message}.`, 'Run npm ci.');
  }
  Object.assign(globalThis, mod.globals);
  // Dawn destroys its instance, and every device on it, when this object is garbage-collected: the process then
  // crashes inside the next event poll. Every instance made here is therefore kept for the life of the process.
  const attempt = () => {
    const instance = mod.create([]);
    liveInstances.push(instance);
    return acquireDevice(instance, 'node');
  };
  const chosen = !!(process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES);
  if (chosen || !existsSync(SWIFTSHADER_ICD)) return attempt();
  try {
    return await attempt();
  } catch (e) {
    if (!(e instanceof WebGPUUnavailableError)) throw e;
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    return attempt();
  }
}

