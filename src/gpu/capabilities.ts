// What an adapter can do beyond WebGPU's core for the precisions we train in: `shader-f16`, subgroups, and Dawn's
// experimental subgroup matrices (the WGSL route to tensor cores: NVIDIA's through VK_KHR_cooperative_matrix, Apple's
// simdgroup matrices), read once from the adapter into plain data the page, the CLI and the bench all show; and, where
// the platform holds more back than the hardware has, which switch would unlock it. Pure apart from readers of a
// GPUAdapter.

/** The experimental feature that exposes subgroup matrices (Chrome and Dawn, 2025 on). */
export const SUBGROUP_MATRIX_FEATURE = 'chromium-experimental-subgroup-matrix';

/** The Dawn toggles that expose `shader-f16` on NVIDIA under Vulkan and the experimental subgroup matrices. */
export const TENSOR_CORE_TOGGLES = ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia'] as const;

/** One subgroup-matrix shape an adapter offers: left M×K and right K×N of componentType, result M×N of its type. */
export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

/** The precisions a training step can run in. f16-mixed: f32 master weights, f16 matmul operands, f32 accumulation. */
export type Precision = 'fp32' | 'f16-mixed';

export interface Capabilities {
  shaderF16: boolean;
  subgroups: boolean;
  /** Every subgroup-matrix config the adapter lists ([] without the feature). */
  subgroupMatrix: SubgroupMatrixConfig[];
  /** The config an f16 × f16 → f32 matmul would use (tensor cores), or null: largest M·N·K of those with f16 inputs. */
  tensorCores: SubgroupMatrixConfig | null;
}

/** The configs listed on adapter.info (Chrome, Dawn) or the adapter itself (older Dawn), as plain objects. */
export function readSubgroupMatrixConfigs(adapter: GPUAdapter): SubgroupMatrixConfig[] {
  if (!adapter.features.has(SUBGROUP_MATRIX_FEATURE)) return [];
  const holder = adapter as unknown as { info?: { subgroupMatrixConfigs?: unknown }; subgroupMatrixConfigs?: unknown };
  const list = holder.info?.subgroupMatrixConfigs ?? holder.subgroupMatrixConfigs;
  if (!list || typeof (list as Iterable<unknown>)[Symbol.iterator] !== 'function') return [];
  const out: SubgroupMatrixConfig[] = [];
  for (const c of list as Iterable<Record<string, unknown>>) {
    const [M, N, K] = [c.M, c.N, c.K].map(Number) as [number, number, number];
    if (![M, N, K].every((x) => Number.isInteger(x) && x > 0)) continue;
    out.push({ componentType: String(c.componentType), resultComponentType: String(c.resultComponentType), M, N, K });
  }
  return out;
}

/** The capabilities behind a feature list and the subgroup-matrix configs. */
export function capabilitiesOf(features: readonly string[], configs: readonly SubgroupMatrixConfig[]): Capabilities {
  const shaderF16 = features.includes('shader-f16');
  // f16 operands need `enable f16;` in the shader, so without shader-f16 an f16 config cannot be used.
  const f16 = configs.filter((c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && shaderF16);
  const tensorCores = f16.reduce<SubgroupMatrixConfig | null>(
    (best, c) => (!best || c.M * c.N * c.K > best.M * best.N * best.K ? c : best),
    null,
  );
  return {
    shaderF16,
    subgroups: features.includes('subgroups'),
    subgroupMatrix: configs.map((c) => ({ ...c })),
    tensorCores,
  };
}

/** A config in words, e.g. "f16 16×16×16 → f32". */
export const describeConfig = (c: SubgroupMatrixConfig): string =>
  `${c.componentType} ${c.M}×${c.N}×${c.K} → ${c.resultComponentType}`;

/** What the adapter offers for matmuls past f32, in one line (the header, the CLI and the bench say it). */
export function describeCapabilities(c: Capabilities): string {
  const f16 = c.shaderF16 ? 'shader-f16' : 'no shader-f16';
  if (c.tensorCores) return `${f16}; tensor cores via subgroup matrices (${describeConfig(c.tensorCores)})`;
  if (c.subgroupMatrix.length)
    return `${f16}; subgroup matrices without an f16 → f32 config (${c.subgroupMatrix.map(describeConfig).join(', ')})`;
  return `${f16}; no subgroup matrices`;
}

export interface UnlockContext {
  where: 'browser' | 'node';
  vendor: string;
  /** A CPU adapter (SwiftShader and the like): nothing to unlock. */
  software: boolean;
  /** Node: whether the device was made with TENSOR_CORE_TOGGLES. */
  toggles?: boolean;
  /** Browser: navigator.userAgent (tells Linux, where Chrome drives NVIDIA through Vulkan). */
  userAgent?: string;
}

/**
 * Which switch would give this platform f16 tensor-core matmuls it lacks, in words, or null when it has them or no
 * switch is known to (a CPU adapter, or one whose driver lists none even with the switches on).
 */
export function unlockHint(c: Capabilities, x: UnlockContext): string | null {
  if (c.tensorCores || x.software) return null;
  const nvidia = /nvidia/i.test(x.vendor);
  if (x.where === 'node') {
    if (x.toggles) return null;
    return nvidia
      ? 'run with --tensor-cores on (Dawn toggles allow_unsafe_apis and vulkan_enable_f16_on_nvidia: shader-f16 and subgroup matrices on NVIDIA under Vulkan)'
      : 'run with --tensor-cores on (Dawn toggle allow_unsafe_apis: the experimental subgroup matrices, where the driver has them)';
  }
  const linux = /linux|x11|cros/i.test(x.userAgent ?? '') && !/android/i.test(x.userAgent ?? '');
  const steps: string[] = [];
  if (!c.shaderF16 && nvidia && linux)
    steps.push(
      'start Chrome with --enable-dawn-features=vulkan_enable_f16_on_nvidia (Chrome withholds shader-f16 on NVIDIA under Vulkan)',
    );
  if (!c.subgroupMatrix.length)
    steps.push(
      'turn on chrome://flags/#enable-unsafe-webgpu ("Unsafe WebGPU Support") for the experimental subgroup matrices',
    );
  return steps.length ? steps.join('; ') : null;
}
