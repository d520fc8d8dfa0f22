// Training flags shared by `inheritune run` and `inheritune train`: parsed into TrainSettings with defaults, the peak
// FLOP/s for MFU (user value, device table, else a measured matmul roofline), and the validation-window count.

import type { Gpu } from '../gpu/runtime';
import { maxWindows } from '../io/corpus';
import { optimizerConfig, type OptimizerKind } from '../optim/optimizer';
import { measureMatmulPeak, peakFromTable, userPeak, type Peak } from '../train/mfu';
import type { TrainSettings } from '../train/trainer';
import { UsageError, type FlagSpec, type Parsed } from './args';

export const TRAIN_FLAGS: Record<string, FlagSpec> = {
  data: { type: 'string', required: true },
  optimizer: { type: 'string' },
  schedule: { type: 'string' },
  lr: { type: 'number' },
  'min-lr': { type: 'number' },
  'muon-lr': { type: 'number' },
  warmup: { type: 'int' },
  batch: { type: 'int' },
  accum: { type: 'int' },
  ctx: { type: 'int' },
  windows: { type: 'int' },
  'eval-every': { type: 'int' },
  'checkpoint-every': { type: 'int' },
  seed: { type: 'int' },
  'peak-tflops': { type: 'number' },
  out: { type: 'string' },
  resume: { type: 'bool' },
  json: { type: 'bool' },
  'no-bounds-checks': { type: 'bool' },
  'half-activations': { type: 'bool' },
};

export const TRAIN_FLAGS_USAGE = `      training: [--optimizer adamw|muon] [--schedule cosine|d2z] [--lr 1e-3] [--min-lr lr/10] [--muon-lr 0.02]
        [--warmup S] [--batch 8] [--accum 1] [--ctx T] [--windows W] [--eval-every S] [--checkpoint-every S]
        [--seed 1] [--peak-tflops X] [--out DIR] [--resume] [--no-bounds-checks] [--half-activations]
      --half-activations: keep the activations backward reads at the blocks' matmul inputs as f16 (less GPU memory
        per token; weights, gradients, optimizer state and validation stay f32; loss and gradients move by about 1e-4
        relative). Runs on every adapter (halves are packed in 32-bit words; no shader-f16 needed).
      --no-bounds-checks: compile shaders without Dawn's per-access index clamping (browsers always clamp); every
        kernel is tested that way too, and the results are the same; whether it is faster depends on the GPU
        (npm run bench measures it).`;

export function trainSettings(
  f: Parsed,
  nPositions: number,
  valTokens: number,
  steps: number,
): Omit<TrainSettings, 'steps'> {
  const kind = (f.optimizer as string | undefined) ?? 'adamw';
  if (kind !== 'adamw' && kind !== 'muon') throw new UsageError(`--optimizer must be adamw or muon, got "${kind}"`);
  const schedule = (f.schedule as string | undefined) ?? 'cosine';
  if (schedule !== 'cosine' && schedule !== 'd2z')
    throw new UsageError(`--schedule must be cosine or d2z, got "${schedule}"`);
  const ctx = (f.ctx as number | undefined) ?? Math.min(nPositions, 256);
  if (ctx < 1 || ctx > nPositions)
    throw new UsageError(`--ctx must be from 1 to the model's n_positions ${nPositions}, got ${ctx}`);
  const fit = maxWindows(valTokens, ctx);
  if (fit < 1)
    throw new UsageError(
      `the corpus is too short: its validation split (last 10%) has ${valTokens} tokens, one window of ctx ${ctx} needs ${ctx + 1}`,
    );
  const windows = (f.windows as number | undefined) ?? Math.min(fit, 64);
  if (windows < 1 || windows > fit)
    throw new UsageError(
      `--windows must be from 1 to ${fit} (windows of ctx ${ctx} in the validation split), got ${windows}`,
    );
  const lr = (f.lr as number | undefined) ?? 1e-3;
  const warmup = (f.warmup as number | undefined) ?? Math.min(Math.floor(steps / 10), 100);
  if (warmup >= steps) throw new UsageError(`--warmup must be below the number of steps (${steps}), got ${warmup}`);
  const s: Omit<TrainSettings, 'steps'> = {
    batch: (f.batch as number | undefined) ?? 8,
    ctx,
    accum: (f.accum as number | undefined) ?? 1,
    evalEvery: (f['eval-every'] as number | undefined) ?? 0,
    evalWindows: windows,
    seed: (f.seed as number | undefined) ?? 1,
    ...(f['half-activations'] ? { halfActivations: true } : {}),
    schedule: { kind: schedule, lr, warmup, minLr: (f['min-lr'] as number | undefined) ?? lr / 10 },
    optimizer: optimizerConfig(kind as OptimizerKind, {
      muon: f['muon-lr'] === undefined ? {} : { lr: f['muon-lr'] as number },
    }),
  };
  for (const [flag, v] of [
    ['batch', s.batch],
    ['accum', s.accum],
  ] as const)
    if (v < 1) throw new UsageError(`--${flag} must be at least 1, got ${v}`);
  if (s.evalEvery < 0) throw new UsageError(`--eval-every must be ≥ 0, got ${s.evalEvery}`);
  if (!(lr > 0)) throw new UsageError(`--lr must be positive, got ${lr}`);
  return s;
}

export async function resolvePeak(f: Parsed, gpu: Gpu): Promise<Peak> {
  if (f['peak-tflops'] !== undefined) {
    try {
      return userPeak(f['peak-tflops'] as number);
    } catch (e) {
      throw new UsageError(`--peak-tflops: ${(e as Error).message}`);
    }
  }
  return peakFromTable(gpu.description) ?? (await measureMatmulPeak(gpu));
}
