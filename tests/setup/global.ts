// Vitest global setup: acquires a WebGPU adapter once, prints what it is, and fails the whole run without one.
// (A green run that tested no kernel would be a lie, so there is no skip path.)

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireNodeDevice } from '../../src/gpu/node';

export default async function setup(): Promise<void> {
  // acquireNodeDevice sets XDG_RUNTIME_DIR when missing; setting it here first lets the test workers inherit it.
  process.env.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'xdg-'));
  const { device, description: d } = await acquireNodeDevice();
  const limits = Object.entries(d.limits)
    .filter(([k]) => /Storage|Buffer|Workgroup|Invocations/.test(k))
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  console.log(
    `\nWebGPU adapter: ${d.description || d.device || '(no description)'} — vendor ${d.vendor}, architecture ${d.architecture}`,
  );
  console.log(`  features: ${d.features.join(', ')}`);
  console.log(`  limits: ${limits}\n`);
  device.destroy();
}
