// The device limits the engine reads, typed, each defaulting to WebGPU's guaranteed minimum when an implementation
// does not report it, and the one rule for the largest storage binding: every place that sizes a buffer or a binding
// asks `maxBinding` instead of choosing its own default.

/** WebGPU's default limits (what every adapter offers), for limits an implementation leaves out. */
const WEBGPU_DEFAULTS = {
  maxStorageBufferBindingSize: 2 ** 27,
  maxBufferSize: 2 ** 28,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeWorkgroupsPerDimension: 65535,
};

/** The buffer limits a storage binding must respect (also what the page knows of the adapter). */
export interface BufferLimits {
  maxStorageBufferBindingSize?: number;
  maxBufferSize?: number;
}

/** The largest storage binding in bytes: a binding is bounded by both the binding limit and the buffer size. */
export function maxBindingOf(l: BufferLimits): number {
  const bind = l.maxStorageBufferBindingSize || WEBGPU_DEFAULTS.maxStorageBufferBindingSize;
  const buf = l.maxBufferSize || WEBGPU_DEFAULTS.maxBufferSize;
  return Math.min(bind, buf);
}

/** Which of the two buffer limits bounds a binding, by name (for messages). */
export function bindingLimitName(l: BufferLimits): 'maxStorageBufferBindingSize' | 'maxBufferSize' {
  const bind = l.maxStorageBufferBindingSize || WEBGPU_DEFAULTS.maxStorageBufferBindingSize;
  const buf = l.maxBufferSize || WEBGPU_DEFAULTS.maxBufferSize;
  return bind <= buf ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
}

/** A device's limits as the engine uses them. Fields are writable so tests can lower one to exercise a fallback. */
export class GpuLimits implements Required<BufferLimits> {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  /** Workgroup memory per workgroup, in bytes. */
  maxComputeWorkgroupStorageSize: number;
  maxComputeWorkgroupsPerDimension: number;

  constructor(reported: Readonly<Record<string, number>>) {
    const get = (k: keyof typeof WEBGPU_DEFAULTS) => reported[k] || WEBGPU_DEFAULTS[k];
    this.maxStorageBufferBindingSize = get('maxStorageBufferBindingSize');
    this.maxBufferSize = get('maxBufferSize');
    this.maxComputeWorkgroupStorageSize = get('maxComputeWorkgroupStorageSize');
    this.maxComputeWorkgroupsPerDimension = get('maxComputeWorkgroupsPerDimension');
  }

  /** The largest storage binding in bytes (maxBindingOf). */
  get maxBinding(): number {
    return maxBindingOf(this);
  }
}
