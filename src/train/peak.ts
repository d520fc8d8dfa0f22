// The peak FLOP/s MFU is measured against (DESIGN.md "MFU"), with where it came from: the device table below, a
// measured matmul roofline (mfu.ts), or the user; and MFU itself. No peak, no MFU. Pure: the page imports it.

import type { Precision } from '../gpu/capabilities';
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
 * Vendor peaks per precision, matched against the adapter's description or device name: `fp32` is dense FP32 without
 * tensor cores (all WebGPU f32 compute can reach), `f16` dense FP16 tensor-core throughput with FP32 accumulation
 * (what an f16-mixed step's subgroup-matrix matmuls can reach: half the FP16-accumulate figure on GeForce cards, the
 * same on data-centre ones). Apple's GPUs run FP16 at their FP32 rate. Architecture alone is too coarse (an H100
 * PCIe and SXM differ by 30%), so an adapter that reports only its architecture gets no table peak.
 */
const DEVICE_PEAKS: { re: RegExp; name: string; fp32: number; f16: number }[] = [
  { re: /H100.*(PCIe|PCI-E)/i, name: 'NVIDIA H100 PCIe', fp32: 51.2e12, f16: 756.5e12 },
  { re: /H100|H200|GH200/i, name: 'NVIDIA H100/H200 SXM', fp32: 66.9e12, f16: 989.4e12 },
  { re: /A100/i, name: 'NVIDIA A100', fp32: 19.5e12, f16: 312e12 },
  { re: /L40S/i, name: 'NVIDIA L40S', fp32: 91.6e12, f16: 362.05e12 },
  { re: /\bL4\b/i, name: 'NVIDIA L4', fp32: 30.3e12, f16: 121e12 },
  { re: /\bA10\b/i, name: 'NVIDIA A10', fp32: 31.2e12, f16: 125e12 },
  { re: /RTX 4090/i, name: 'NVIDIA GeForce RTX 4090', fp32: 82.6e12, f16: 165.2e12 },
  { re: /RTX 4080/i, name: 'NVIDIA GeForce RTX 4080', fp32: 48.7e12, f16: 97.5e12 },
  { re: /RTX 3090/i, name: 'NVIDIA GeForce RTX 3090', fp32: 35.6e12, f16: 71e12 },
  { re: /RTX 3080/i, name: 'NVIDIA GeForce RTX 3080', fp32: 29.8e12, f16: 59.5e12 },
  { re: /\bT4\b/i, name: 'NVIDIA T4', fp32: 8.1e12, f16: 65e12 },
  { re: /V100/i, name: 'NVIDIA V100', fp32: 15.7e12, f16: 125e12 },
  { re: /Apple M1\b(?! (Pro|Max|Ultra))/i, name: 'Apple M1 (8-core GPU)', fp32: 2.6e12, f16: 2.6e12 },
  { re: /Apple M2\b(?! (Pro|Max|Ultra))/i, name: 'Apple M2 (10-core GPU)', fp32: 3.6e12, f16: 3.6e12 },
];

/** What a table row's figure for a precision is, in words. */
const PRECISION_LABEL: Record<Precision, string> = {
  fp32: 'FP32 (no tensor cores)',
  'f16-mixed': 'FP16 tensor cores (dense, FP32 accumulate)',
};

/** The table's peak for the precision a step runs in (DESIGN.md "MFU": MFU is against the peak of that precision). */
export function peakFromTable(
  d: Pick<AdapterDescription, 'description' | 'device' | 'vendor'>,
  precision: Precision = 'fp32',
): Peak | null {
  const names = `${d.description} ${d.device}`;
  const row = DEVICE_PEAKS.find((r) => r.re.test(names));
  if (!row) return null;
  const flops = precision === 'fp32' ? row.fp32 : row.f16;
  return { flops, source: 'device table', label: `${row.name}, ${PRECISION_LABEL[precision]}` };
}

/**
 * The precision whose peak MFU is measured against: f16-mixed's on tensor cores (its block products run there),
 * fp32's otherwise, f16-mixed included where the products run on the FP32 kernels (no tensor cores, or turned off).
 */
export function peakPrecision(precision: Precision, onTensorCores: boolean): Precision {
  return precision === 'f16-mixed' && onTensorCores ? 'f16-mixed' : 'fp32';
}

export function userPeak(tflops: number): Peak {
  if (!(tflops > 0) || !Number.isFinite(tflops))
    throw new Error(`peak TFLOP/s must be a positive number, got ${tflops}`);
  return { flops: tflops * 1e12, source: 'user', label: `${tflops} TFLOP/s (entered)` };
}
