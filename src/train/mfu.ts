// Model FLOPs utilisation (DESIGN.md "MFU"): FLOPs per token, and the peak FLOP/s it is measured against together with
// where that peak came from: the device table below, a measured matmul roofline, or the user. No peak, no MFU.

import type { AdapterDescription } from '../gpu/device';
import type { Gpu } from '../gpu/runtime';
import type { Gpt2Config } from '../model/config';
import { paramCount } from '../model/params';
import { launchMatmul } from '../tensor/ops/matmul';
import { empty } from '../tensor/tensor';

export type PeakSource = 'device table' | 'measured matmul roofline' | 'user';

export interface Peak {
  /** FLOP/s. */
  flops: number;
  source: PeakSource;
  /** What the figure is, e.g. "NVIDIA H100 SXM, FP32 (no tensor cores)". */
  label: string;
}

/** 6N + 12·L·H·D·T, N = parameters without wpe (the tied head counted once), T = the sequence length trained on. */
export function flopsPerToken(c: Gpt2Config, T: number): number {
  return 6 * paramCount(c, { excludeWpe: true }) + 12 * c.nLayer * c.nEmbd * T;
}

/** MFU as a fraction, or null when no peak is known. */
export function mfu(tokensPerSecond: number, perToken: number, peak: Peak | null): number | null {
  return peak && peak.flops > 0 ? (tokensPerSecond * perToken) / peak.flops : null;
}

/**
 * Vendor FP32 peaks (dense, no tensor cores: WebGPU f32 compute cannot reach them), matched against the adapter's
 * description or device name. Architecture alone is too coarse (an H100 PCIe and SXM differ by 30%), so an adapter
 * that reports only its architecture gets no table peak.
 */
const DEVICE_PEAKS: [RegExp, string, number][] = [
  [/H100.*(PCIe|PCI-E)/i, 'NVIDIA H100 PCIe', 51.2e12],
  [/H100|H200|GH200/i, 'NVIDIA H100/H200 SXM', 66.9e12],
  [/A100/i, 'NVIDIA A100', 19.5e12],
  [/L40S/i, 'NVIDIA L40S', 91.6e12],
  [/\bL4\b/i, 'NVIDIA L4', 30.3e12],
  [/\bA10\b/i, 'NVIDIA A10', 31.2e12],
  [/RTX 4090/i, 'NVIDIA GeForce RTX 4090', 82.6e12],
  [/RTX 4080/i, 'NVIDIA GeForce RTX 4080', 48.7e12],
  [/RTX 3090/i, 'NVIDIA GeForce RTX 3090', 35.6e12],
  [/RTX 3080/i, 'NVIDIA GeForce RTX 3080', 29.8e12],
  [/\bT4\b/i, 'NVIDIA T4', 8.1e12],
  [/V100/i, 'NVIDIA V100', 15.7e12],
  [/Apple M1\b(?! (Pro|Max|Ultra))/i, 'Apple M1 (8-core GPU)', 2.6e12],
  [/Apple M2\b(?! (Pro|Max|Ultra))/i, 'Apple M2 (10-core GPU)', 3.6e12],
];

export function peakFromTable(d: Pick<AdapterDescription, 'description' | 'device' | 'vendor'>): Peak | null {
  const names = `${d.description} ${d.device}`;
  for (const [re, name, flops] of DEVICE_PEAKS) {
    if (re.test(names)) return { flops, source: 'device table', label: `${name}, FP32 (no tensor cores)` };
  }
  return null;
}

export function userPeak(tflops: number): Peak {
  if (!(tflops > 0) || !Number.isFinite(tflops))
    throw new Error(`peak TFLOP/s must be a positive number, got ${tflops}`);
  return { flops: tflops * 1e12, source: 'user', label: `${tflops} TFLOP/s (entered)` };
}

/**
 * Times our own f32 matmul on square sizes, doubling from 256 while a run takes under `budgetMs` / 4 (a software
 * adapter stops small, a GPU reaches 4096), and returns the best FLOP/s seen: the roofline this engine can reach,
 * which makes MFU a measure of how close the whole step gets to its best kernel.
 */
export async function measureMatmulPeak(gpu: Gpu, budgetMs = 2000): Promise<Peak> {
  let best = 0;
  let bestN = 0;
  const started = performance.now();
  for (let n = 256; n <= 4096; n *= 2) {
    const a = empty(gpu, [n, n]);
    const b = empty(gpu, [n, n]);
    const c = empty(gpu, [n, n]);
    try {
      gpu.clear(a.view);
      gpu.clear(b.view);
      launchMatmul(gpu, { a: a.view, b: b.view, c: c.view, M: n, N: n, K: n });
      await gpu.sync(); // compile and warm up outside the timing
      const reps = n <= 1024 ? 4 : 2;
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) launchMatmul(gpu, { a: a.view, b: b.view, c: c.view, M: n, N: n, K: n });
      await gpu.sync();
      const ms = (performance.now() - t0) / reps;
      const flops = (2 * n ** 3) / (ms / 1000);
      if (flops > best) [best, bestN] = [flops, n];
      if (ms > budgetMs / 4 || performance.now() - started > budgetMs) break;
    } finally {
      for (const t of [a, b, c]) t.dispose();
    }
  }
  return { flops: best, source: 'measured matmul roofline', label: `best of our f32 matmul, ${bestN}³` };
}
