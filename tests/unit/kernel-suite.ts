// The kernel self-checks as a Vitest suite on a given device: kernels.test.ts runs them on the default device, and
// kernels-unchecked.test.ts on one whose shaders have no bounds clamping.

import { describe, expect, it } from 'vitest';
import { allChecks } from '../../src/selfcheck';
import { runCheck } from '../../src/selfcheck/harness';
import type { Gpu } from '../../src/gpu/runtime';

export function kernelSuite(title: string, gpu: () => Promise<Gpu>): void {
  describe(title, () => {
    for (const check of allChecks) {
      it(`${check.name} [${check.kernels.join(', ')}]`, async () => {
        const r = await runCheck(await gpu(), check);
        console.log(`${check.name} (${r.ms.toFixed(0)} ms)\n  ${r.lines.join('\n  ')}`);
        expect(r.error).toBeNull();
        const failed = r.comparisons.filter((c) => !c.pass).map((c) => c.label);
        expect(failed).toEqual([]);
        expect(r.comparisons.length).toBeGreaterThan(0);
      });
    }
  });
}
