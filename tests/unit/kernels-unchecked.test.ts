// The same kernel checks on a device whose shaders have no bounds clamping (Dawn's "disable_robustness", which the
// CLI and benchmark offer as --no-bounds-checks): no kernel may depend on an out-of-range index being clamped. The
// device also takes every kernel's Params as immediates (GpuOptions.immediates; CI's adapter has them) instead of
// from the uniform ring, which kernels.test.ts's device uses.

import { describe, expect, it } from 'vitest';
import { isSoftwareAdapter } from '../../src/gpu/device';
import { acquireNodeDevice } from '../../src/gpu/node';
import { Gpu } from '../../src/gpu/runtime';
import { kernelSuite } from './kernel-suite';

let device: Promise<Gpu> | null = null;
const unchecked = () =>
  (device ??= acquireNodeDevice({ boundsChecks: false }).then((a) => new Gpu(a, { immediates: true })));

describe('a device made with boundsChecks: false', () => {
  it('really indexes without clamping (on SwiftShader a read past a binding sees the next element of its buffer)', async () => {
    const gpu = await unchecked();
    expect(gpu.boundsChecks).toBe(false);
    // SwiftShader through Dawn has 64 bytes of immediates and WGSL's immediate address space: without them the
    // immediates path would go untested, which must fail the run rather than pass quietly.
    expect(gpu.immediates).toBe(true);
    // Element 20 of a 16-float binding into a 256-float buffer holding 1, 2, 3, …: clamped, it would read 16.
    const read = async (g: Gpu) => {
      const d = g.device;
      const code = `@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> at: vec4u;
@compute @workgroup_size(1) fn main() { dst[0] = src[at.x]; }`;
      const p = d.createComputePipeline({
        layout: 'auto',
        compute: { module: d.createShaderModule({ code }), entryPoint: 'main' },
      });
      const src = d.createBuffer({ size: 1024, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      d.queue.writeBuffer(
        src,
        0,
        Float32Array.from({ length: 256 }, (_, i) => i + 1),
      );
      const dst = d.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
      const at = d.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      d.queue.writeBuffer(at, 0, new Uint32Array([20, 0, 0, 0]));
      const entries = [
        { binding: 0, resource: { buffer: src, offset: 0, size: 64 } },
        { binding: 1, resource: { buffer: dst } },
        { binding: 2, resource: { buffer: at } },
      ];
      const enc = d.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(p);
      pass.setBindGroup(0, d.createBindGroup({ layout: p.getBindGroupLayout(0), entries }));
      pass.dispatchWorkgroups(1);
      pass.end();
      d.queue.submit([enc.finish()]);
      const got = new Float32Array(await g.read({ buffer: dst, offset: 0, size: 256 }))[0];
      for (const b of [src, dst, at]) b.destroy();
      return got;
    };
    const got = await read(gpu);
    // SwiftShader (CI) reads the buffer's next element. A GPU driver's own robust access may legally return zero or
    // any element of the binding instead, so elsewhere the value is only reported.
    if (isSoftwareAdapter(gpu.description)) expect(got).toBe(21);
    else console.log(`element 20 of a 16-float binding without bounds checks: ${got}`);
    const checked = new Gpu(await acquireNodeDevice());
    try {
      expect(checked.boundsChecks).toBe(true);
      expect(await read(checked)).toBe(16);
    } finally {
      checked.destroy();
    }
  });
});

kernelSuite('kernels vs CPU references, no shader bounds checks', unchecked);
