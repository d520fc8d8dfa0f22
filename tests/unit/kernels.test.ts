// Every kernel, forward and backward, and the optimizers and a 2-layer GPT-2 graph, against f64 CPU references on
// the WebGPU adapter in Node (Dawn). tests/e2e/selfcheck.test.ts runs the same checks in Chromium.

import { kernelSuite } from './kernel-suite';
import { getGpu } from './gpu';

kernelSuite('kernels vs CPU references (WebGPU)', getGpu);
