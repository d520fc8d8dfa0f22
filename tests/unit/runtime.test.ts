// The GPU runtime on the real adapter: full limits, WGSL errors with line and column, the pool, the uniform ring,
// per-dispatch timestamps, error scopes, device loss and the no-WebGPU error.

import { describe, expect, it } from 'vitest';
import { acquireDevice } from '../../src/gpu/device';
import { GpuDeviceError, ShaderCompileError, WebGPUUnavailableError } from '../../src/gpu/errors';
import { kernel } from '../../src/gpu/kernel';
import { acquireNodeDevice } from '../../src/gpu/node';
import { Gpu } from '../../src/gpu/runtime';
import { accumulate, fromArray, headCrossEntropy, matmul, tidyAsync, zeros } from '../../src/tensor';
import { headChunkRows } from '../../src/tensor/ops/head';
import { getGpu } from './gpu';

/** A device of its own, for tests that break it. */
async function freshGpu(): Promise<Gpu> {
  return new Gpu(await acquireNodeDevice());
}

describe('GPU runtime', () => {
  it('requests the adapter’s full limits and its optional features', async () => {
    const gpu = await getGpu();
    const d = gpu.description;
    expect(d.description || d.architecture).toBeTruthy();
    for (const k of [
      'maxStorageBufferBindingSize',
      'maxBufferSize',
      'maxComputeWorkgroupStorageSize',
      'maxComputeInvocationsPerWorkgroup',
    ]) {
      expect(gpu.device.limits[k as keyof GPUSupportedLimits], k).toBe(d.limits[k]);
    }
    for (const f of ['timestamp-query', 'shader-f16', 'subgroups']) {
      expect(gpu.features.has(f), f).toBe(d.features.includes(f));
    }
  });

  it('reports a WGSL compile error with file, line, column and the source line', async () => {
    const gpu = await freshGpu();
    const spec = kernel({
      name: 'broken',
      source:
        '@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1)\nfn main() {\n  y[0] = undefined_name + 1.0;\n}\n',
      storage: ['rw'],
    });
    const errors: Error[] = [];
    gpu.onError((e) => errors.push(e));
    const ready = gpu.pipelines.get(spec).ready;
    await expect(ready).rejects.toBeInstanceOf(ShaderCompileError);
    const err = (await ready.catch((e: unknown) => e)) as ShaderCompileError;
    expect(err.message).toMatch(/shaders\/broken\.wgsl:4:\d+: error: .*undefined_name/);
    expect(err.message).toContain('y[0] = undefined_name + 1.0;');
    expect(err.message).toContain('^');
    // The funnel saw it too, and the runtime now refuses work instead of running a broken pipeline.
    expect(errors[0]).toBe(err);
    expect(() => gpu.flush()).toThrow(ShaderCompileError);
    gpu.destroy();
  });

  it('reuses pooled buffers by size and usage', async () => {
    const gpu = await getGpu();
    const a = gpu.alloc(1000);
    const before = gpu.pool.stats();
    gpu.release(a);
    const b = gpu.alloc(1000);
    expect(b).toBe(a);
    expect(b.size).toBe(1024);
    expect(gpu.pool.stats().buffers).toBe(before.buffers);
    gpu.release(b);
    expect(() => gpu.release(b)).toThrow(/released twice/);
  });

  it('names the limit when a buffer is too large', async () => {
    const gpu = await getGpu();
    expect(() => gpu.alloc(gpu.limits.maxBufferSize + 1024, 'logits')).toThrow(
      /logits buffer .* exceeds this adapter's maxBufferSize/,
    );
  });

  it('keeps results right when one batch outgrows the uniform ring (auto-flush)', async () => {
    const gpu = await getGpu();
    expect(gpu.immediates).toBe(false); // the default: Params from the uniform ring
    const total = await tidyAsync(async () => {
      const y = zeros(gpu, [3]);
      const one = fromArray(gpu, [1, 2, 3], [3]);
      const [d0, s0] = [gpu.dispatchCount, gpu.submitCount];
      for (let i = 0; i < 2500; i++) accumulate(y, one);
      expect(gpu.dispatchCount - d0).toBe(2500);
      // 1024 uniform slots per batch: 2500 dispatches force two submits before the readback's.
      expect(gpu.submitCount - s0).toBe(2);
      return Array.from(await y.readF32());
    });
    expect(total).toEqual([2500, 5000, 7500]);
  });

  it("passes Params as immediates where asked and the device has them (CI's adapter does): the ring stays empty", async () => {
    const gpu = new Gpu(await acquireNodeDevice(), { immediates: true });
    // SwiftShader through Dawn has 64 bytes of immediates and WGSL's immediate address space: without them the
    // immediates path would go untested, which must fail the run rather than pass quietly.
    expect(gpu.immediates).toBe(true);
    const total = await tidyAsync(async () => {
      const y = zeros(gpu, [3]);
      const one = fromArray(gpu, [1, 2, 3], [3]);
      const s0 = gpu.submitCount;
      for (let i = 0; i < 2500; i++) accumulate(y, one);
      // Nothing fills up: one submit, the readback's.
      const r = Array.from(await y.readF32());
      expect(gpu.submitCount - s0).toBe(1);
      return r;
    });
    expect(total).toEqual([2500, 5000, 7500]);
    gpu.destroy();
  });

  it('orders an upload inside an open batch with the work around it, without submitting, and reuses its staging', async () => {
    const gpu = await getGpu();
    for (let round = 0; round < 6; round++) {
      const out = await tidyAsync(async () => {
        const y = zeros(gpu, [4]);
        const x = fromArray(gpu, [1, 2, 3, 4], [4]);
        accumulate(y, x); // recorded, not submitted
        const s0 = gpu.submitCount;
        gpu.upload(x.view, new Float32Array([10, 20, 30, 40].map((v) => v * (round + 1))));
        expect(gpu.submitCount, 'an upload into an open batch submits nothing').toBe(s0);
        accumulate(y, x);
        const r = Array.from(await y.readF32());
        expect(gpu.submitCount - s0, 'one submit: the readback').toBe(1);
        return r;
      });
      expect(out).toEqual([1, 2, 3, 4].map((v) => v + 10 * v * (round + 1)));
    }
    // Chunks come back mapped once the GPU is done with them: a steady stream of uploads needs only a couple.
    expect(gpu.stagingChunks).toBeGreaterThanOrEqual(1);
    expect(gpu.stagingChunks).toBeLessThanOrEqual(3);
  });

  it('creates no bind group when the same work is recorded again, and none on a trimmed buffer', async () => {
    const gpu = await getGpu();
    const work = () =>
      tidyAsync(async () => {
        const a = fromArray(
          gpu,
          Float32Array.from({ length: 12 }, (_, i) => i - 5),
          [3, 4],
        );
        const b = fromArray(
          gpu,
          Float32Array.from({ length: 8 }, (_, i) => 0.5 * i),
          [4, 2],
        );
        const y = zeros(gpu, [3, 2]);
        accumulate(y, matmul(a, b));
        accumulate(y, matmul(a, b), 2);
        return Array.from(await y.readF32());
      });
    // The first pass leaves the pool's free lists in the order every later pass sees.
    const first = await work();
    expect(await work()).toEqual(first);
    const { hits, misses } = gpu.bindGroups;
    const d0 = gpu.dispatchCount;
    const second = await work();
    const dispatches = gpu.dispatchCount - d0;
    expect(dispatches).toBeGreaterThanOrEqual(4);
    expect(gpu.bindGroups.misses).toBe(misses);
    expect(gpu.bindGroups.hits - hits).toBe(dispatches);
    expect(second).toEqual(first);
    // trim() destroys the free buffers the cached groups bind; the cache must forget them (a stale group fails submit).
    gpu.trim();
    expect(gpu.bindGroups.size).toBe(0);
    const third = await gpu.scoped(work);
    expect(gpu.bindGroups.misses - misses).toBe(dispatches);
    expect(third).toEqual(first);
    // Each value checked by hand: y = 3·(a·b).
    const ref: number[] = [];
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 2; j++) {
        let s = 0;
        for (let k = 0; k < 4; k++) s += (i * 4 + k - 5) * 0.5 * (k * 2 + j);
        ref.push(3 * s);
      }
    expect(first).toEqual(ref);
  });

  it('times every dispatch with GPU timestamps when the adapter has them', async () => {
    const gpu = await getGpu();
    expect(gpu.hasTimestamps).toBe(gpu.description.features.includes('timestamp-query'));
    if (!gpu.hasTimestamps)
      throw new Error('this adapter has no timestamp-query: per-dispatch timings cannot be tested here');
    gpu.setProfiling(true);
    await tidyAsync(async () => {
      const a = fromArray(gpu, new Float32Array(64 * 64).fill(1), [64, 64]);
      const c = matmul(a, a);
      await c.read();
    });
    const timings = await gpu.takeTimings();
    gpu.setProfiling(false);
    const mm = timings.filter((t) => t.label === 'matmul');
    expect(mm.length).toBe(1);
    expect(mm[0]!.ns).toBeGreaterThanOrEqual(0);
    // The matmul's work goes with its timing: 2·M·N·K FLOPs, and the bytes of A, B and C (the unused bias slot's
    // placeholder not counted).
    expect(mm[0]!.flops).toBe(2 * 64 * 64 * 64);
    expect(mm[0]!.bytes).toBe(3 * 64 * 64 * 4);
    console.log(`GPU timestamps: ${timings.map((t) => `${t.label} ${(t.ns / 1e3).toFixed(1)} µs`).join(', ')}`);
  });

  it('reads timestamps unquantized in Node (Dawn rounds them to 65.536 µs unless told not to)', async () => {
    const gpu = await getGpu();
    gpu.setProfiling(true);
    await tidyAsync(async () => {
      const a = fromArray(gpu, new Float32Array(32 * 32).fill(1), [32, 32]);
      for (let i = 0; i < 8; i++) matmul(a, a);
      await a.read();
    });
    const ns = (await gpu.takeTimings()).map((t) => t.ns);
    gpu.setProfiling(false);
    expect(ns.length).toBe(8);
    // Quantized, every duration would be a multiple of 65,536 ns; eight real ones all being so has odds of 2^-128.
    expect(ns.filter((t) => t % 65536 !== 0).length, ns.join(' ')).toBeGreaterThan(0);
  });

  it('turns a bad dispatch inside scoped() into an exception', async () => {
    const gpu = await freshGpu();
    const spec = kernel({
      name: 'write4',
      source:
        '@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1) fn main() { y[3] = 1.0; }',
      storage: ['rw'],
    });
    const buf = gpu.alloc(256);
    // A binding offset that is not a multiple of 256 is a WebGPU validation error (the runtime does not pre-check it).
    await expect(
      gpu.scoped(async () => {
        gpu.dispatch(spec, [{ buffer: buf, offset: 4, size: 252 }], {}, [1]);
      }),
    ).rejects.toBeInstanceOf(GpuDeviceError);
    // The device still works afterwards: scoped errors are not fatal.
    await gpu.scoped(async () => gpu.dispatch(spec, [{ buffer: buf, offset: 0, size: 256 }], {}, [1]));
    expect(gpu.error).toBeNull();
    gpu.destroy();
  });

  it('reports device loss once through the funnel and refuses further work', async () => {
    const gpu = await freshGpu();
    const seen: Error[] = [];
    gpu.onError((e) => seen.push(e));
    gpu.device.destroy();
    await gpu.device.lost;
    await new Promise((r) => setTimeout(r, 0));
    expect(seen.length).toBe(1);
    expect(seen[0]).toBeInstanceOf(GpuDeviceError);
    expect((seen[0] as GpuDeviceError).kind).toBe('lost');
    expect(() => gpu.flush()).toThrow(/device lost/);
    expect(() => zeros(gpu, [4])).toThrow(/device lost/);
  });

  it('explains what to do when there is no WebGPU', async () => {
    await expect(acquireDevice(undefined, 'browser')).rejects.toThrow(WebGPUUnavailableError);
    await expect(acquireDevice(undefined, 'browser')).rejects.toThrow(/Chrome|Edge|--enable-unsafe-webgpu/);
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    await expect(acquireDevice(noAdapter, 'node')).rejects.toThrow(/No WebGPU adapter was found.*VK_ICD_FILENAMES/);
  });
});

describe('GPU runtime limits', () => {
  it('names maxStorageBufferBindingSize when a binding is too large', async () => {
    const gpu = await getGpu();
    const spec = kernel({
      name: 'big',
      source:
        '@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1) fn main() { y[0] = 1.0; }',
      storage: ['rw'],
    });
    const max = gpu.limits.maxStorageBufferBindingSize!;
    const fake = { buffer: gpu.dummy.buffer, offset: 0, size: max + 256 };
    expect(() => gpu.dispatch(spec, [fake], {}, [1])).toThrow(
      /exceeds this adapter's maxStorageBufferBindingSize .* \(by 256 B\)/,
    );
  });
});

describe('GPU runtime bindings', () => {
  const copy = kernel({
    name: 'copy',
    source:
      '@group(0) @binding(0) var<storage, read> x: array<f32>;\n@group(0) @binding(1) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1) fn main() { y[0] = x[0]; }',
    storage: ['read', 'rw'],
  });

  it('refuses one buffer bound writable and read-only in one dispatch, naming the kernel', async () => {
    const gpu = await getGpu();
    const buf = gpu.alloc(1024);
    expect(() =>
      gpu.dispatch(
        copy,
        [
          { buffer: buf, offset: 0, size: 256 },
          { buffer: buf, offset: 512, size: 256 },
        ],
        {},
        [1],
      ),
    ).toThrow(/Kernel copy: bindings 0 and 1 use the same buffer .* as writable and read-only storage/);
    gpu.release(buf);
  });

  it('maps WGSL errors after an include back to the kernel file and line', async () => {
    const gpu = await freshGpu();
    const spec = kernel({
      name: 'broken_after_include',
      source:
        'const WG: u32 = 64u;\r\n//#include workgroup_reduce\r\n@compute @workgroup_size(64)\r\nfn main() { let a = missing_fn(1.0); }\r\n',
      storage: [],
    });
    const err = (await gpu.pipelines.get(spec).ready.catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(ShaderCompileError);
    expect(err.message).toMatch(/shaders\/broken_after_include\.wgsl:4:\d+: error: .*missing_fn/);
    gpu.destroy();
  });
});

describe('head chunk bytes (GpuOptions.headChunkBytes)', () => {
  it('sizes the fused head chunks from the option, with the same loss, and refuses less than 1 MiB', async () => {
    const acquired = await acquireNodeDevice();
    expect(() => new Gpu(acquired, { headChunkBytes: 1000 })).toThrow(
      /headChunkBytes must be at least 1 MiB, got 1000/,
    );
    const [N, C, V] = [256, 8, 4096]; // 16 KiB of logits a row: 1 MiB holds 64 rows
    const losses: number[] = [];
    const dispatches: number[] = [];
    for (const headChunkBytes of [undefined, 2 ** 20]) {
      const gpu = new Gpu(headChunkBytes ? await acquireNodeDevice() : acquired, { headChunkBytes });
      await tidyAsync(async () => {
        const x = fromArray(
          gpu,
          Array.from({ length: N * C }, (_, i) => Math.sin(i)),
          [N, C],
        );
        const w = fromArray(
          gpu,
          Array.from({ length: V * C }, (_, i) => Math.cos(i * 0.3)),
          [V, C],
        );
        const targets = Int32Array.from({ length: N }, (_, i) => (i * 37) % V);
        expect(headChunkRows(gpu, N, V)).toBe(headChunkBytes ? 64 : 256);
        const d0 = gpu.dispatchCount;
        const loss = headCrossEntropy(x, w, targets);
        dispatches.push(gpu.dispatchCount - d0);
        losses.push((await loss.readF32())[0]!);
      });
      gpu.destroy();
    }
    expect(losses[1]).toBe(losses[0]); // each row's loss is its own: the chunking does not change a bit
    // Per chunk a logits product and a cross-entropy pass; then one mean: 1 chunk 3, 4 chunks 9.
    expect(dispatches).toEqual([3, 9]);
  });
});
