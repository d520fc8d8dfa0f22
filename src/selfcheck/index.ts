// Every self-check, in the order the page and the test suite run them.

import { endChecks } from './checks-ends';
import { opChecks } from './checks-ops';
import { matmulChecks } from './checks-matmul';
import { optimChecks } from './checks-optim';
import { graphChecks } from './checks-graph';
import { analysisChecks } from './checks-analysis';
import { halfChecks } from './checks-half';
import { tapeChecks } from './checks-tape';
import { llamaChecks } from './checks-llama';
import { colsumChecks } from './checks-colsum';
import { sgmatChecks } from './checks-sgmat';
import type { Check } from './harness';

export const allChecks: Check[] = [
  ...opChecks,
  ...colsumChecks,
  ...llamaChecks,
  ...endChecks,
  ...matmulChecks,
  ...sgmatChecks,
  ...halfChecks,
  ...optimChecks,
  ...graphChecks,
  ...tapeChecks,
  ...analysisChecks,
];
export { runCheck, type Check, type CheckResult } from './harness';
