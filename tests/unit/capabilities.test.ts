// What an adapter offers past f32 (shader-f16, subgroup matrices), the switch that would unlock tensor cores, Dawn's
// toggles reaching a Node device (--tensor-cores), and the peak table per precision that MFU is measured against.

import { describe, expect, it } from 'vitest';
import {
  capabilitiesOf,
  describeCapabilities,
  describeConfig,
  readSubgroupMatrixConfigs,
  type SubgroupMatrixConfig,
  SUBGROUP_MATRIX_FEATURE,
  unlockHint,
} from '../../src/gpu/capabilities';
import { acquireNodeDevice, tensorCoresMode } from '../../src/gpu/node';
import { Gpu } from '../../src/gpu/runtime';
import { fromArray, matmul } from '../../src/tensor';
import { expandIncludes } from '../../src/gpu/kernel';
import { launchMatmulF16 } from '../../src/tensor/ops/matmul/launch';
import { type SgmatEpilogue, sgmatKernel, sgmatTile, stagedTile, tileFor } from '../../src/tensor/ops/matmul/sgmat';
import { peakFromTable, peakPrecision } from '../../src/train/peak';
import { getGpu } from './gpu';

const cfg = (componentType: string, resultComponentType: string, M: number, N: number, K: number) =>
  ({ componentType, resultComponentType, M, N, K }) as SubgroupMatrixConfig;
// What an H200 listed with allow_unsafe_apis alone (2026-12-04: integer configs only), and the f16 ones NVIDIA
// drivers are reported to add with shader-f16.
const INT_ONLY = [cfg('i8', 'i32', 16, 16, 32), cfg('u8', 'u32', 16, 8, 32)];
const WITH_F16 = [
  ...INT_ONLY,
  cfg('f16', 'f16', 16, 16, 16),
  cfg('f16', 'f32', 16, 8, 16),
  cfg('f16', 'f32', 16, 16, 16),
];

describe('capabilities', () => {
  it('picks the largest f16 → f32 subgroup-matrix config as the tensor-core path, only with shader-f16', () => {
    const full = capabilitiesOf(['shader-f16', 'subgroups', SUBGROUP_MATRIX_FEATURE], WITH_F16);
    expect(full.tensorCores).toEqual(cfg('f16', 'f32', 16, 16, 16));
    expect(full.subgroupMatrix).toHaveLength(5);
    expect(describeCapabilities(full)).toBe('shader-f16; tensor cores via subgroup matrices (f16 16×16×16 → f32)');
    // f16 configs cannot be used without `enable f16`.
    const noF16 = capabilitiesOf(['subgroups', SUBGROUP_MATRIX_FEATURE], WITH_F16);
    expect(noF16.tensorCores).toBeNull();
    const ints = capabilitiesOf(['subgroups', SUBGROUP_MATRIX_FEATURE], INT_ONLY);
    expect(ints.tensorCores).toBeNull();
    expect(describeCapabilities(ints)).toBe(
      'no shader-f16; subgroup matrices without an f16 → f32 config (i8 16×16×32 → i32, u8 16×8×32 → u32)',
    );
    // Apple's 8×8×8 f16 → f32 (Metal simdgroup matrices).
    expect(capabilitiesOf(['shader-f16', SUBGROUP_MATRIX_FEATURE], [cfg('f16', 'f32', 8, 8, 8)]).tensorCores).toEqual(
      cfg('f16', 'f32', 8, 8, 8),
    );
    expect(describeCapabilities(capabilitiesOf([], []))).toBe('no shader-f16; no subgroup matrices');
  });

  it('reads configs from adapter.info or the adapter, only where the feature is listed, dropping malformed ones', () => {
    const adapter = (features: string[], where: 'info' | 'adapter', list: unknown) =>
      ({
        features: new Set(features),
        ...(where === 'info' ? { info: { subgroupMatrixConfigs: list } } : { subgroupMatrixConfigs: list }),
      }) as unknown as GPUAdapter;
    const list = [
      cfg('f16', 'f32', 16, 16, 16),
      { componentType: 'f16', resultComponentType: 'f32', M: 0, N: 8, K: 8 },
    ];
    expect(readSubgroupMatrixConfigs(adapter([SUBGROUP_MATRIX_FEATURE], 'info', list))).toEqual([list[0]]);
    expect(readSubgroupMatrixConfigs(adapter([SUBGROUP_MATRIX_FEATURE], 'adapter', list))).toEqual([list[0]]);
    expect(readSubgroupMatrixConfigs(adapter([], 'info', list))).toEqual([]);
    expect(readSubgroupMatrixConfigs(adapter([SUBGROUP_MATRIX_FEATURE], 'info', 7))).toEqual([]);
  });

  it('names the switch that would unlock tensor cores on each platform, and none where nothing would', () => {
    const none = capabilitiesOf([], []);
    const nvidiaNode = { where: 'node', vendor: 'nvidia', software: false } as const;
    expect(unlockHint(none, nvidiaNode)).toMatch(/--tensor-cores on .*vulkan_enable_f16_on_nvidia/);
    expect(unlockHint(none, { ...nvidiaNode, toggles: true })).toBeNull(); // on already: the driver has none
    expect(unlockHint(none, { ...nvidiaNode, vendor: 'amd' })).toMatch(/--tensor-cores on .*allow_unsafe_apis/);
    expect(unlockHint(none, { ...nvidiaNode, software: true })).toBeNull();
    const linuxChrome = {
      where: 'browser',
      vendor: 'nvidia',
      software: false,
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/141',
    } as const;
    const hint = unlockHint(none, linuxChrome)!;
    expect(hint).toMatch(/--enable-dawn-features=vulkan_enable_f16_on_nvidia/);
    expect(hint).toMatch(/chrome:\/\/flags\/#enable-unsafe-webgpu/);
    const mac = {
      ...linuxChrome,
      vendor: 'apple',
      userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/141',
    };
    expect(unlockHint(capabilitiesOf(['shader-f16'], []), mac)).toBe(
      'turn on chrome://flags/#enable-unsafe-webgpu ("Unsafe WebGPU Support") for the experimental subgroup matrices',
    );
    const full = capabilitiesOf(['shader-f16', SUBGROUP_MATRIX_FEATURE], WITH_F16);
    expect(unlockHint(full, linuxChrome)).toBeNull();
  });

  it('parses --tensor-cores', () => {
    expect(tensorCoresMode(undefined)).toBe('auto');
    expect(tensorCoresMode('on')).toBe('on');
    expect(() => tensorCoresMode('yes')).toThrow('--tensor-cores must be auto, on or off, got "yes"');
  });

  it('gives every precision its own table peak, labelled, and none to an unknown adapter', () => {
    const h200 = { description: 'NVIDIA H200', device: '', vendor: 'nvidia' };
    expect(peakFromTable(h200)).toEqual({
      flops: 66.9e12,
      source: 'device table',
      label: 'NVIDIA H100/H200 SXM, FP32 (no tensor cores)',
    });
    expect(peakFromTable(h200, 'f16-mixed')).toEqual({
      flops: 989.4e12,
      source: 'device table',
      label: 'NVIDIA H100/H200 SXM, FP16 tensor cores (dense, FP32 accumulate)',
    });
    // A GeForce card's FP32-accumulate rate is half its FP16-accumulate one.
    expect(
      peakFromTable({ description: 'NVIDIA GeForce RTX 4090', device: '', vendor: 'nvidia' }, 'f16-mixed')!.flops,
    ).toBe(165.2e12);
    expect(peakFromTable({ description: 'NVIDIA H100 PCIe', device: '', vendor: 'nvidia' }, 'f16-mixed')!.flops).toBe(
      756.5e12,
    );
    expect(peakFromTable({ description: 'SwiftShader Device', device: '', vendor: 'google' }, 'f16-mixed')).toBeNull();
  });

  it('measures f16-mixed against the FP16 tensor peak only where its products run on tensor cores', () => {
    expect(peakPrecision('f16-mixed', true)).toBe('f16-mixed');
    expect(peakPrecision('f16-mixed', false)).toBe('fp32'); // on the FP32 kernels
    expect(peakPrecision('fp32', true)).toBe('fp32');
  });
});

describe('capabilities of real devices', () => {
  it('the software adapter: reported as it is, no tensor cores, no toggles by default (auto is for NVIDIA)', async () => {
    const gpu = await getGpu();
    expect(gpu.toggles).toEqual([]);
    expect(gpu.capabilities.shaderF16).toBe(gpu.features.has('shader-f16'));
    expect(gpu.capabilities.subgroups).toBe(gpu.features.has('subgroups'));
    expect(gpu.capabilities.tensorCores).toBeNull();
    expect(gpu.description.subgroupMatrixConfigs).toEqual([]);
  });

  it('--tensor-cores on reaches Dawn in one enable string with disable_robustness', async () => {
    const a = await acquireNodeDevice({ tensorCores: 'on', boundsChecks: false });
    const gpu = new Gpu(a);
    try {
      expect(gpu.toggles).toEqual(['disable_robustness', 'allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia']);
      // allow_unsafe_apis took effect: the adapter now lists experimental features Dawn hides without it.
      const experimental = gpu.description.features.filter((f) => f.startsWith('chromium-experimental-'));
      expect(experimental.length).toBeGreaterThan(0);
      const plain = await getGpu();
      expect(plain.description.features.filter((f) => f.startsWith('chromium-experimental-'))).toEqual([]);
      // The device still computes, right: [1 2; 3 4]·[5; 6] = [17; 39].
      const a = fromArray(gpu, [1, 2, 3, 4], [2, 2]);
      const b = fromArray(gpu, [5, 6], [2, 1]);
      expect([...(await matmul(a, b).read())]).toEqual([17, 39]);
    } finally {
      gpu.destroy();
    }
  });
});

describe('the tensor-core matmul kernel (matmul_sgmat) on the subgroup-matrix builtins', () => {
  // No adapter here runs subgroup matrices (SwiftShader has none); Dawn's null backend has shader-f16 and, with the
  // toggles, the feature, and checks shaders and pipelines as a GPU's Dawn would, executing nothing. So this proves
  // the builtin version compiles for the configs NVIDIA (16×16×16) and Apple (8×8×8) list, every epilogue, transpose
  // and bias (the overrides); its numbers are checked on SwiftShader with the calls emulated (tests/unit/sgmat.test.ts,
  // the same kernel text apart from the include) and against f64 where it runs (the bench's tensor-core cases). A
  // device without subgroup matrices must refuse it with the reason.
  it('compiles for each config, epilogue, transpose and bias on the null backend; a device without them is refused', async () => {
    const gpu = new Gpu(await acquireNodeDevice({ backend: 'null', tensorCores: 'on' }));
    try {
      expect(gpu.features.has(SUBGROUP_MATRIX_FEATURE)).toBe(true);
      expect(gpu.features.has('shader-f16')).toBe(true);
      const sg = 32;
      for (const config of [cfg('f16', 'f32', 16, 16, 16), cfg('f16', 'f32', 8, 8, 8)]) {
        const direct = tileFor(config, sg, gpu.device.limits.maxComputeInvocationsPerWorkgroup)!;
        expect(direct.SGM * direct.SGN * sg).toBeLessThanOrEqual(gpu.device.limits.maxComputeInvocationsPerWorkgroup);
        // Both K loops: straight from storage, and through workgroup memory (its slices' loads from there).
        for (const [tile, epilogue] of [direct, stagedTile(direct)].flatMap((t) =>
          (['none', 'residual', 'gelu', 'gelu_f16'] as SgmatEpilogue[]).map((e) => [t, e] as const),
        )) {
          const spec = sgmatKernel(tile, epilogue);
          expect(spec.source).toMatch(
            tile.stageK ? /^\/\/#include matmul_sgmat_staged$/m : /^\/\/#include matmul_sgmat_direct$/m,
          );
          expect(spec.source).toMatch(/^\/\/#include matmul_sgmat_hw$/m);
          gpu.device.pushErrorScope('validation');
          const module = gpu.device.createShaderModule({ code: expandIncludes(spec.source, spec.name).code });
          const info = await module.getCompilationInfo();
          for (const bits of [0, 1, 2, 3, 4]) {
            const constants = { TRANS_A: bits & 1, TRANS_B: (bits >> 1) & 1, HAS_BIAS: bits >> 2 };
            gpu.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main', constants } });
          }
          const err = await gpu.device.popErrorScope();
          const what = `${describeConfig(config)} ${epilogue}${tile.stageK ? ' staged' : ''}`;
          expect(
            info.messages.filter((m) => m.type === 'error').map((m) => m.message),
            what,
          ).toEqual([]);
          expect(err?.message ?? null, what).toBeNull();
        }
      }
    } finally {
      gpu.destroy();
    }
    const sw = await getGpu();
    expect(sgmatTile(sw)).toBeNull();
    expect(() => launchMatmulF16(sw, { a: sw.dummy, b: sw.dummy, c: sw.dummy, M: 64, N: 64, K: 16 })).toThrow(
      /no f16 → f32 subgroup-matrix config/,
    );
  });
});
