// The kernel self-checks as a Vitest suite on a given device: kernels.test.ts runs them on the default device,
// kernels-unchecked.test.ts on one whose shaders have no bounds clamping, and kernels-reduce.test.ts those with
// workgroup reductions on a device told not to use subgroups.

import { describe, expect, it } from 'vitest';
import { allChecks } from '../../src/selfcheck';
import { runCheck } from '../../src/selfcheck/harness';
import type { Gpu } from '../../src/gpu/runtime';
import type { Check } from '../../src/selfcheck/harness';

/**
 * Per check: the matmul checks compile a pipeline for every variant, A storage and epilogue, and SwiftShader takes
 * seconds per register-tiled kernel, so they run one to two minutes on CI's two cores (more when the machine is busy).
 */
const CHECK_TIMEOUT_MS = 300_000;

/** `only`: the checks to run (all by default). */
export function kernelSuite(title: string, gpu: () => Promise<Gpu>, only: (c: Check) => boolean = () => true): void {
  describe(title, () => {
    for (const check of allChecks.filter(only)) {
      it(
        `${check.name} [${check.kernels.join(', ')}]`,
        async () => {
          const r = await runCheck(await gpu(), check);
          console.log(`${check.name} (${r.ms.toFixed(0)} ms)\n  ${r.lines.join('\n  ')}`);
          expect(r.error).toBeNull();
          const failed = r.comparisons.filter((c) => !c.pass).map((c) => c.label);
          expect(failed).toEqual([]);
          expect(r.comparisons.length).toBeGreaterThan(0);
        },
        CHECK_TIMEOUT_MS,
      );
    }
  });
}
