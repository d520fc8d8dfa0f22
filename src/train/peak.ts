// The peak FLOP/s MFU is measured against (DESIGN.md "MFU"), with where it came from: the device table below, a
// measured matmul roofline (mfu.ts), or the user; and MFU itself. No peak, no MFU. Pure: the page imports it.

import type { AdapterDescription } from '../gpu/device';

export type PeakSource = 'device table' | 'measured matmul roofline' | 'user';

export interface Peak {
  /** FLOP/s. */
  flops: number;
  source: PeakSource;
  /** What the figure is, e.g. "NVIDIA H100 SXM, FP32 (no tensor cores)". */
  label: string;
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
