// Per-shape matmul kernel tuning: shapes launched while tuning is on are timed with every variant, the fastest is
// kept, and the choice changes no result (the variants are bit-identical; see the "matmul tiles" self-check).

import { describe, expect, it } from 'vitest';
import { empty, fromArray } from '../../src/tensor';
import {
  hasPendingMatmulTuning,
  launchMatmul,
  matmulKernel,
  splitK,
  tuneMatmuls,
  variantsFor,
} from '../../src/tensor/ops/matmul';
import { expandIncludes } from '../../src/gpu/kernel';
import { Rng } from '../../src/util/rng';
import { getGpu } from './gpu';
import { headChunkRows } from '../../src/tensor/ops/head';
import { Gpu } from '../../src/gpu/runtime';
import { GpuLimits } from '../../src/gpu/limits';
import { acquireNodeDevice } from '../../src/gpu/node';

describe('matmul tuning', () => {
  it('times every variant on each new shape once and keeps the fastest, with unchanged results', async () => {
    // Tuning is the device's choice, made when its Gpu is created: off by default on the software adapter.
    expect((await getGpu()).kernelChoices.enabled).toBe(false);
    const gpu = new Gpu(await acquireNodeDevice(), { tuneKernels: true });
    const rng = new Rng(5);
    const [M, N, K] = [33, 70, 20];
    const a = fromArray(
      gpu,
      Float32Array.from({ length: M * K }, () => rng.normal()),
      [M * K],
    );
    const b = fromArray(
      gpu,
      Float32Array.from({ length: K * N }, () => rng.normal()),
      [K * N],
    );
    const c = empty(gpu, [M * N]);
    launchMatmul(gpu, { a: a.view, b: b.view, c: c.view, M, N, K });
    const before = await c.readF32();
    expect(hasPendingMatmulTuning(gpu)).toBe(true); // queued by the launch above
    launchMatmul(gpu, { a: a.view, b: b.view, c: c.view, M, N, K, transB: false });
    launchMatmul(gpu, { a: a.view, b: b.view, c: c.view, M, N, K }); // the same shape: one entry
    expect(hasPendingMatmulTuning(gpu)).toBe(true);
    const tuned = await tuneMatmuls(gpu);
    expect(tuned).toHaveLength(1);
    expect(tuned[0]!.shape).toBe('1×33×70×20');
    // N = 70 is no multiple of 4: the vec4-load kernels cannot run it and are not timed. SwiftShader allows 32 KiB
    // of workgroup memory, so the 16-deep K slices run.
    expect(gpu.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(32768);
    expect(Object.keys(tuned[0]!.ms).sort()).toEqual(['reg128', 'reg128k16', 'reg64', 'simple']);
    expect(variantsFor(gpu, { M, N, K })).not.toContain('reg128v4');
    const best = Math.min(...Object.values(tuned[0]!.ms));
    expect(tuned[0]!.ms[tuned[0]!.chosen]).toBe(best);
    expect(hasPendingMatmulTuning(gpu)).toBe(false);
    // The tuned kernel now runs for this shape (no new pending entry) and gives the same bits.
    launchMatmul(gpu, { a: a.view, b: b.view, c: c.view, M, N, K });
    expect(hasPendingMatmulTuning(gpu)).toBe(false);
    expect(await c.readF32()).toEqual(before);
    expect(await tuneMatmuls(gpu)).toEqual([]);
    for (const t of [a, b, c]) t.dispose();
    gpu.destroy();
  });

  it('offers the vec4-load kernels only where the contiguous dimensions and strides are multiples of 4', () => {
    const gpu = { limits: { maxComputeWorkgroupStorageSize: 32768 } };
    const v4 = (s: Parameters<typeof variantsFor>[1]) => variantsFor(gpu, s).filter((v) => v.includes('v4'));
    expect(v4({ M: 33, N: 68, K: 20 })).toEqual(['reg128v4', 'reg128v4k16']);
    expect(v4({ M: 33, N: 68, K: 20, transA: true })).toEqual([]); // A [K, M]: M = 33
    expect(v4({ M: 36, N: 50257, K: 768, transB: true })).toEqual(['reg128v4', 'reg128v4k16']); // the tied head: B [N, K]
    expect(v4({ M: 36, N: 50257, K: 768 })).toEqual([]);
  });

  it('offers the 16-deep K slices only where the adapter allows 32 KiB of workgroup memory, and refuses to force them elsewhere', async () => {
    const shape = { M: 64, N: 64, K: 64 };
    expect(variantsFor({ limits: { maxComputeWorkgroupStorageSize: 32768 } }, shape)).toEqual([
      'simple',
      'reg64',
      'reg128',
      'reg128v4',
      'reg128k16',
      'reg128v4k16',
    ]);
    expect(variantsFor({ limits: { maxComputeWorkgroupStorageSize: 16384 } }, shape)).toEqual([
      'simple',
      'reg64',
      'reg128',
      'reg128v4',
    ]);
    expect(variantsFor({ limits: new GpuLimits({}) }, shape)).toEqual(['simple', 'reg64', 'reg128', 'reg128v4']); // WebGPU's default
    const real = await getGpu();
    const small = Object.create(real, { limits: { value: { ...real.limits, maxComputeWorkgroupStorageSize: 16384 } } });
    const a = empty(real, [64 * 64]);
    expect(() => launchMatmul(small, { a: a.view, b: a.view, c: a.view, ...shape, variant: 'reg128k16' })).toThrow(
      'matmul: reg128k16 needs 32768 bytes of workgroup memory; this adapter allows 16384 (maxComputeWorkgroupStorageSize)',
    );
    a.dispose();
  });

  it('launches a split product as the parts plus one column sum, and no split with a bias or another beta', async () => {
    const gpu = await getGpu();
    const [M, N, K] = [8, 12, 2048];
    const a = empty(gpu, [M * K]);
    const b = empty(gpu, [K * N]);
    const c = empty(gpu, [M * N]);
    const bias = empty(gpu, [N]);
    for (const t of [a, b, c, bias]) gpu.clear(t.view);
    const dispatches = (x: Partial<Parameters<typeof launchMatmul>[1]>) => {
      const before = gpu.dispatchCount;
      launchMatmul(gpu, { a: a.view, b: b.view, c: c.view, M, N, K, ...x });
      return gpu.dispatchCount - before;
    };
    expect(splitK({ M, N, K })).toEqual({ kChunk: 1024, parts: 2 });
    expect(dispatches({})).toBe(2);
    expect(dispatches({ beta: 1 })).toBe(2);
    expect(dispatches({ bias: bias.view })).toBe(1);
    expect(dispatches({ beta: 0.5 })).toBe(1);
    // An epilogue (residual or GELU) runs whole too: it needs the finished sum as it stores.
    const r = empty(gpu, [M * N]);
    gpu.clear(r.view);
    expect(dispatches({ residual: r.view })).toBe(1);
    expect(dispatches({ gelu: r.view })).toBe(1);
    expect(() => dispatches({ residual: r.view, beta: 1 })).toThrow(
      'matmul: the residual epilogue overwrites C (beta must be 0, not 1)',
    );
    expect(() => dispatches({ residual: r.view, gelu: c.view })).toThrow('one epilogue at a time');
    await gpu.sync();
    for (const t of [a, b, c, bias, r]) t.dispose();
  });

  it('builds each epilogue kernel once: its extra buffer after C, the uniform after it, nested includes spliced once', () => {
    expect(matmulKernel('reg128v4', true, 'gelu')).toBe(matmulKernel('reg128v4', true, 'gelu'));
    for (const v of ['simple', 'reg64', 'reg128v4k16'] as const) {
      expect(matmulKernel(v).storage).toEqual(['read', 'read', 'read', 'rw']);
      expect(matmulKernel(v, false, 'residual')).toMatchObject({
        name: 'matmul+residual',
        storage: ['read', 'read', 'read', 'rw', 'read'],
      });
      const gelu = matmulKernel(v, true, 'gelu');
      expect(gelu).toMatchObject({ name: 'matmul+gelu', storage: ['read', 'read', 'read', 'rw', 'rw'] });
      const { code, mapLine } = expandIncludes(gelu.source, `${v}.wgsl`);
      const lines = code.split('\n');
      // The GELU epilogue includes the GELU library: spliced once, its lines mapped to their file.
      const def = lines.findIndex((l) => l.startsWith('fn geluTanh('));
      expect(lines.filter((l) => l.startsWith('fn geluTanh(')).length).toBe(1);
      expect(mapLine(def + 1)).toMatchObject({ file: 'shaders/lib/gelu.wgsl' });
      expect(code).toContain('@group(0) @binding(4) var<storage, read_write> G: array<f32>;');
      expect(code).toContain('@group(0) @binding(5) var<uniform> p: Params;');
      expect(code).toMatch(/var<storage, read> A: array<(u32|vec2<u32>)>;/); // the f16-A swap as well
    }
  });

  it("sizes the head's chunks and splits K by shape alone where few output tiles meet a long K (GPT-2 124M at B=8, T=1024)", () => {
    const parts = (M: number, N: number, K: number, batch = 1) => splitK({ M, N, K, batch })?.parts ?? 1;
    // The tied head's chunks: 640 rows of GPT-2's vocabulary in the default 128 MiB binding (five 128-row tiles), 256
    // under a 64 MiB limit, and never more than the rows there are (rounded up to 64).
    const limits = (maxStorageBufferBindingSize: number) =>
      ({ limits: new GpuLimits({ maxStorageBufferBindingSize }) }) as unknown as Gpu;
    expect(headChunkRows(limits(2 ** 31), 8192, 50257)).toBe(640);
    expect(headChunkRows(limits(2 ** 26), 8192, 50257)).toBe(256);
    expect(headChunkRows(limits(2 ** 31), 150, 37)).toBe(192);
    expect(headChunkRows(limits(2 ** 20), 8192, 50257)).toBe(64); // the least; the binding then names the limit
    // A device told to allow 1 GiB chunks (GpuOptions.headChunkBytes): 5248 rows under a 2 GiB binding, the binding
    // limit where it is lower, and all 8192 rows (one chunk) with 2 GiB allowed.
    const big = (maxStorageBufferBindingSize: number, headChunkBytes: number) =>
      ({
        limits: new GpuLimits({ maxStorageBufferBindingSize, maxBufferSize: maxStorageBufferBindingSize }),
        headChunkBytes,
      }) as unknown as Gpu;
    expect(headChunkRows(big(2 ** 31, 2 ** 30), 8192, 50257)).toBe(5248);
    expect(headChunkRows(big(2 ** 28, 2 ** 30), 8192, 50257)).toBe(1280);
    expect(headChunkRows(big(2 ** 31, 2 ** 31 - 1), 8192, 50257)).toBe(8192);
    // The tied head's dx over a 640-row chunk: 5 × 6 tiles walking 50257 — 9 parts of 5632 (a multiple of 64).
    expect(splitK({ M: 640, N: 768, K: 50257 })).toEqual({ kChunk: 5632, parts: 9 });
    // Weight gradients (K = 8192 tokens): attention projection, qkv, MLP.
    expect(parts(768, 768, 8192)).toBe(8);
    expect(parts(768, 2304, 8192)).toBe(3);
    expect(parts(768, 3072, 8192)).toBe(2);
    // Enough tiles already, a short K, or a batched product (Newton–Schulz): no split.
    expect(parts(8192, 2304, 768)).toBe(1);
    expect(parts(4096, 4096, 4096)).toBe(1);
    expect(parts(50257, 768, 640)).toBe(1);
    expect(parts(768, 768, 768)).toBe(1);
    expect(parts(768, 768, 8192, 4)).toBe(1);
    // At most 64 parts, each at least 1024 deep.
    expect(parts(64, 64, 1 << 20)).toBe(64);
    expect(parts(64, 64, 3000)).toBe(2);
  });
});
