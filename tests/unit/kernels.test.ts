// Every kernel, forward and backward, against its f64 CPU reference on the WebGPU adapter.

import { describe, expect, it } from 'vitest';
import { allChecks as opChecks } from '../../src/selfcheck';
import { runCheck } from '../../src/selfcheck/harness';
import { getGpu } from './gpu';

describe('kernels vs CPU references (WebGPU)', () => {
  for (const check of opChecks) {
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
