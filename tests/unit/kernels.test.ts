// Every kernel, forward and backward, and the optimizers and a 2-layer GPT-2 graph, against f64 CPU references on
// the WebGPU adapter in Node (Dawn). tests/e2e/selfcheck.test.ts runs the same checks in Chromium.

import { describe, expect, it } from 'vitest';
import { allChecks } from '../../src/selfcheck';
import { runCheck } from '../../src/selfcheck/harness';
import { getGpu } from './gpu';

describe('kernels vs CPU references (WebGPU)', () => {
  for (const check of allChecks) {
    it(`${check.name} [${check.kernels.join(', ')}]`, async () => {
      const r = await runCheck(await getGpu(), check);
      console.log(`${check.name} (${r.ms.toFixed(0)} ms)\n  ${r.lines.join('\n  ')}`);
      expect(r.error).toBeNull();
      const failed = r.comparisons.filter((c) => !c.pass).map((c) => c.label);
      expect(failed).toEqual([]);
      expect(r.comparisons.length).toBeGreaterThan(0);
    });
  }
});
