// Workgroup reductions (LayerNorm, cross-entropy) come in two variants: through subgroups where the device has them
// (the default device here: SwiftShader has `subgroups`, with 4-wide subgroups) and through workgroup memory alone.
// kernels.test.ts checks the first; this file checks that the choice is made as documented, that the subgroup
// library's directives land at the top of the module, and runs the reducing kernels' checks on the second.

import { describe, expect, it } from 'vitest';
import { isSoftwareAdapter } from '../../src/gpu/device';
import { expandIncludes } from '../../src/gpu/kernel';
import { acquireNodeDevice } from '../../src/gpu/node';
import { Gpu, canReduceInSubgroups } from '../../src/gpu/runtime';
import lnForward from '../../shaders/layernorm_forward.wgsl?raw';
import { getGpu } from './gpu';
import { kernelSuite } from './kernel-suite';

let device: Promise<Gpu> | null = null;
const withoutSubgroups = () => (device ??= acquireNodeDevice().then((a) => new Gpu(a, { subgroups: false })));

const REDUCING =
  /^((layernorm|crossentropy)_(forward|backward|seeded|\*)|token_scores|distill_head|hidden_cosine_(forward|backward))$/;

describe('workgroup reductions', () => {
  it("the default device reduces through subgroups where it can; CI's adapter can, so the suite exercises them", async () => {
    const gpu = await getGpu();
    expect(gpu.subgroupReduce).toBe(canReduceInSubgroups(gpu.instance, gpu.features));
    // SwiftShader (the adapter CI runs on) has subgroups and Dawn's WGSL has subgroup_id: without them, the subgroup
    // variant would go untested, which must fail the run rather than pass quietly.
    if (isSoftwareAdapter(gpu.description)) expect(gpu.subgroupReduce).toBe(true);
    const off = await withoutSubgroups();
    expect(off.subgroupReduce).toBe(false);
  });

  it('splices the subgroup library with its directives moved above every declaration, and maps lines back', () => {
    const { code, mapLine } = expandIncludes(lnForward, 'shaders/layernorm_forward.wgsl', {
      workgroup_reduce: 'workgroup_reduce_subgroups',
    });
    const lines = code.split('\n');
    expect(lines.slice(0, 2)).toEqual(['enable subgroups;', 'requires subgroup_id;']);
    expect(mapLine(1)).toMatchObject({ file: 'shaders/lib/workgroup_reduce_subgroups.wgsl', line: 1 });
    const call = lines.findIndex((l) => l.includes('wgSum(s, lane)'));
    expect(call).toBeGreaterThan(0);
    expect(mapLine(call + 1)).toMatchObject({
      file: 'shaders/layernorm_forward.wgsl',
      line: lnForward.split('\n').findIndex((l) => l.includes('wgSum(s, lane)')) + 1,
    });
    const sub = lines.findIndex((l) => l.includes('subgroupAdd'));
    expect(mapLine(sub + 1).file).toBe('shaders/lib/workgroup_reduce_subgroups.wgsl');
    // Without the swap, the portable file and no directive.
    const plain = expandIncludes(lnForward, 'shaders/layernorm_forward.wgsl').code;
    expect(plain).not.toContain('enable subgroups');
    expect(plain).toContain('var<workgroup> red: array<f32, WG>;');
    expect(() => expandIncludes(lnForward, 'x.wgsl', { workgroup_reduce: 'nope' })).toThrow(/include "nope" not found/);
  });
});

kernelSuite('reducing kernels vs CPU references, workgroup memory only (no subgroups)', withoutSubgroups, (c) =>
  c.kernels.some((k) => REDUCING.test(k)),
);
