// Node-only entry: loads Dawn (npm "webgpu") and finds a Vulkan driver, then hands over to acquireDevice.

import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TENSOR_CORE_TOGGLES } from './capabilities';
import { acquireDevice, type Acquired } from './device';
import { WebGPUUnavailableError } from './errors';

/** Dawn instances created by this process (see acquireNodeDevice). */
const liveInstances: GPU[] = [];

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export interface NodeDeviceOptions {
  /**
   * false: Dawn compiles every shader without its index clamping (the "disable_robustness" toggle), so no bounds
   * check runs per buffer or workgroup-array access. Browsers always clamp. Our kernels keep their indices inside
   * their bindings by construction, and the test suite runs every kernel check on such a device to hold them to it;
   * a kernel that did index out of range would then read or write other data instead of a clamped element.
   */
  boundsChecks?: boolean;
  /**
   * 'null': Dawn's null backend, which validates and records commands but executes nothing (reads return zeros,
   * memory is capped at a few hundred MiB). For measuring the host's own cost of recording work, apart from any GPU
   * and its driver.
   */
  backend?: 'null';
  /**
   * Dawn's TENSOR_CORE_TOGGLES (allow_unsafe_apis, vulkan_enable_f16_on_nvidia), which expose `shader-f16` and the
   * experimental subgroup matrices that Dawn withholds by default. 'auto' (the default): on for an NVIDIA adapter,
   * where other WebGPU engines (ONNX Runtime's WebGPU provider, llama.cpp, torchlette) turn them on too; off
   * elsewhere (a CPU adapter gains nothing, and other drivers are untried).
   */
  tensorCores?: 'auto' | 'on' | 'off';
}

/** Parses a --tensor-cores value (auto, on, off), or throws naming the flag. */
export function tensorCoresMode(v: unknown): 'auto' | 'on' | 'off' {
  if (v === undefined) return 'auto';
  if (v === 'auto' || v === 'on' || v === 'off') return v;
  throw new Error(`--tensor-cores must be auto, on or off, got ${JSON.stringify(v)}`);
}

/** The description a null-backend device reports (Dawn gives it none). */
export const NULL_BACKEND = 'Dawn null backend (executes nothing)';

/**
 * Creates a Dawn GPU object and a device. With no Vulkan driver chosen in the environment, the installed
 * drivers are tried first; if Dawn accepts none of them (no GPU, or only Mesa's lavapipe, which Dawn
 * rejects), Debian chromium's SwiftShader driver (a CPU implementation) is used, so tests run without a GPU.
 * Dawn re-reads VK_ICD_FILENAMES for every instance it creates, so the retry sees the new value.
 */
export async function acquireNodeDevice(opts: NodeDeviceOptions = {}): Promise<Acquired> {
  const boundsChecks = opts.boundsChecks ?? true;
  // Headless machines often lack it, and the Vulkan stack then complains on every device creation.
  process.env.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'xdg-'));
  let mod: typeof import('webgpu');
  try {
    mod = await import('webgpu');
  } catch (e) {
    throw new WebGPUUnavailableError(
      `Could not load the npm package "webgpu": ${(e as Error).message}.`,
      'Run npm ci.',
    );
  }
  Object.assign(globalThis, mod.globals);
  // Dawn destroys its instance, and every device on it, when this object is garbage-collected: the process then
  // crashes inside the next event poll. Every instance made here is therefore kept for the life of the process.
  // Dawn rounds timestamps to multiples of 65.536 µs by default (a browser's defence against timing attacks): a
  // profiled kernel shorter than that would read 0 or 65.5 µs. Node runs only our own code, so the profiles are exact.
  // Every enabled toggle goes in one comma-separated flag: Dawn keeps only the last of two with the same name.
  const instanceOf = (backend: string[], toggles: string[]) => {
    const instance = mod.create([
      ...backend,
      ...(toggles.length ? [`enable-dawn-features=${toggles.join(',')}`] : []),
      'disable-dawn-features=timestamp_quantization',
    ]);
    liveInstances.push(instance);
    return instance;
  };
  const mode = opts.tensorCores ?? 'auto';
  const attempt = async (backend: string[] = []) => {
    const base = boundsChecks ? [] : ['disable_robustness'];
    let on = mode === 'on';
    if (mode === 'auto' && !backend.length) {
      // The toggles are the instance's: look at the adapter first, then make the instance the device comes from.
      const probe = await instanceOf(backend, base).requestAdapter({ powerPreference: 'high-performance' });
      on = /nvidia/i.test(`${probe?.info?.vendor ?? ''} ${probe?.info?.description ?? ''}`);
    }
    const toggles = on ? [...base, ...TENSOR_CORE_TOGGLES] : base;
    return acquireDevice(instanceOf(backend, toggles), 'node', { boundsChecks, toggles });
  };
  if (opts.backend === 'null') {
    const acquired = await attempt(['backend=null']);
    acquired.description.description = NULL_BACKEND;
    return acquired;
  }
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
