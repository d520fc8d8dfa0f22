// Adapter/device acquisition shared by the browser and Node: full adapter limits, optional features when present.

import { readSubgroupMatrixConfigs, SUBGROUP_MATRIX_FEATURE, type SubgroupMatrixConfig } from './capabilities';
import { WebGPUUnavailableError } from './errors';

/**
 * Optional features we ask for when the adapter has them. The experimental subgroup matrices are listed only where
 * the browser or Dawn's toggles expose them (capabilities.ts); a device request refusing them is retried without.
 */
export const OPTIONAL_FEATURES = ['timestamp-query', 'shader-f16', 'subgroups', SUBGROUP_MATRIX_FEATURE] as const;

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  features: string[];
  limits: Record<string, number>;
  /** The subgroup-matrix shapes the adapter offers ([] without the experimental feature). */
  subgroupMatrixConfigs: SubgroupMatrixConfig[];
  /** The adapter's smallest and largest subgroup sizes (0 where it does not say). */
  subgroupMinSize: number;
  subgroupMaxSize: number;
}

export function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info;
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    features: [...adapter.features].map(String).sort(),
    limits: limitsToRecord(adapter.limits),
    subgroupMatrixConfigs: readSubgroupMatrixConfigs(adapter),
    subgroupMinSize: Number((info as { subgroupMinSize?: number } | undefined)?.subgroupMinSize ?? 0),
    subgroupMaxSize: Number((info as { subgroupMaxSize?: number } | undefined)?.subgroupMaxSize ?? 0),
  };
}

/** GPUSupportedLimits is an interface object whose fields are prototype getters: copy them by name. */
export function limitsToRecord(limits: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  // for..in walks the prototype getters in both Chromium and Dawn's Node binding.
  for (const key in limits) {
    const v = (limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') out[key] = v;
  }
  return out;
}

/**
 * A CPU implementation of WebGPU's backend (SwiftShader, llvmpipe/lavapipe: correct, but no measure of GPU speed), or
 * Dawn's null backend (executes nothing): no kernel timing here means anything.
 */
export function isSoftwareAdapter(
  d: Pick<AdapterDescription, 'vendor' | 'architecture' | 'device' | 'description'>,
): boolean {
  return /swiftshader|llvmpipe|lavapipe|null backend/i.test(
    `${d.description} ${d.device} ${d.architecture} ${d.vendor}`,
  );
}

export interface Acquired {
  /** navigator.gpu in the browser, Dawn's instance in Node; must stay referenced while the device is used. */
  instance: GPU;
  adapter: GPUAdapter;
  device: GPUDevice;
  description: AdapterDescription;
  /** Whether shaders index with the implementation's bounds clamping (always in a browser; see NodeDeviceOptions). */
  boundsChecks: boolean;
  /** The Dawn toggles the Node instance was made with (enable-dawn-features), for reports; [] in a browser. */
  toggles: string[];
}

/**
 * Requests an adapter and a device with every limit raised to the adapter's maximum and the optional
 * features it supports. Throws WebGPUUnavailableError with a specific hint when there is none.
 */
export async function acquireDevice(
  gpu: GPU | undefined,
  where: 'browser' | 'node',
  opts: { boundsChecks?: boolean; toggles?: string[] } = {},
): Promise<Acquired> {
  if (!gpu) {
    throw new WebGPUUnavailableError(
      'WebGPU is not available here (navigator.gpu is missing).',
      where === 'browser'
        ? 'Use a current Chrome or Edge (113+), or Firefox 141+ / Safari 26+; on Linux start Chrome with --enable-unsafe-webgpu, and serve the page over https or http://127.0.0.1.'
        : 'Install the npm package "webgpu" and a Vulkan driver.',
    );
  }
  const adapter = (await gpu.requestAdapter({ powerPreference: 'high-performance' })) ?? (await gpu.requestAdapter());
  if (!adapter) {
    throw new WebGPUUnavailableError(
      'No WebGPU adapter was found.',
      where === 'browser'
        ? 'Your browser exposes WebGPU but found no usable GPU: update the graphics driver, or check chrome://gpu.'
        : "Dawn found no Vulkan device: install libvulkan1 and a Vulkan driver (for a CPU fallback, Debian's chromium package ships SwiftShader: VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json).",
    );
  }
  const description = describeAdapter(adapter);
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  for (const [k, v] of Object.entries(description.limits)) {
    // Some implementations list limits a device request rejects by name; only pass standard ones.
    if (k in adapter.limits) requiredLimits[k] = v;
  }
  let device: GPUDevice;
  try {
    try {
      device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'inheritune' });
    } catch (e) {
      // An experimental feature the adapter lists but will not grant must not cost the device.
      const experimental = (f: string) => f === SUBGROUP_MATRIX_FEATURE;
      if (!requiredFeatures.some(experimental)) throw e;
      const stable = requiredFeatures.filter((f) => !experimental(f));
      device = await adapter.requestDevice({ requiredFeatures: stable, requiredLimits, label: 'inheritune' });
      description.subgroupMatrixConfigs = [];
    }
  } catch (e) {
    throw new WebGPUUnavailableError(
      `The WebGPU adapter refused to create a device: ${(e as Error).message}.`,
      'Close other GPU-heavy tabs and reload.',
    );
  }
  return {
    instance: gpu,
    adapter,
    device,
    description,
    boundsChecks: opts.boundsChecks ?? true,
    toggles: opts.toggles ?? [],
  };
}
