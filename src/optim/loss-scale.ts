// Dynamic loss scaling, all on the GPU (the rule is guard_step.wgsl's): the backward is seeded with scale/accum, so
// gradients that would underflow in half precision keep their bits; an update whose gradients overflowed is skipped
// and the scale halved, and the scale doubles after `interval` clean updates. The state lives in a [4] buffer the
// guard updates, and the seed buffer is written by the guard for the next update, so no host round trip decides
// anything. The host learns the outcome from each update's readback (scale, clean count, skips) and keeps it for
// snapshots. Scales are powers of two, which makes scaling exact in f32 (tested: a scaled run is bit-identical).

import type { Gpu } from '../gpu/runtime';
import { empty, type Tensor } from '../tensor/tensor';

export interface LossScaleConfig {
  /** The first scale (a power of two; PyTorch's GradScaler starts at 2^16). */
  init: number;
  /** Clean updates in a row after which the scale doubles (PyTorch: 2000). */
  interval: number;
  /** The scale never halves below this (default 1); an overflow at it halts the run. */
  min?: number;
  /** The scale never doubles above this (default 2^24). */
  max?: number;
}

/** Where a loss scaler stands: what the host reads back after each update and snapshots keep. */
export interface LossScaleState {
  scale: number;
  /** Clean updates since the scale last changed. */
  clean: number;
  /** Updates skipped for overflow so far. */
  skipped: number;
}

const isPow2 = (x: number) => Number.isFinite(x) && x > 0 && 2 ** Math.round(Math.log2(x)) === x;

/** The config with its defaults, or an Error naming the bad field. */
export function lossScaleConfig(c: LossScaleConfig): Required<LossScaleConfig> {
  const full = { min: 1, max: 2 ** 24, ...c };
  for (const k of ['init', 'min', 'max'] as const)
    if (!isPow2(full[k]) || full[k] > 2 ** 127 || full[k] < 2 ** -126)
      throw new Error(`loss scale ${k} must be a power of two from 2^-126 to 2^127, got ${full[k]}`);
  if (!(full.min <= full.init && full.init <= full.max))
    throw new Error(`loss scale: need min ≤ init ≤ max, got ${full.min}, ${full.init}, ${full.max}`);
  if (!Number.isInteger(full.interval) || full.interval < 1 || full.interval > 2 ** 24)
    throw new Error(`loss scale interval must be a whole number of updates from 1 to 2^24, got ${full.interval}`);
  return full;
}

export class LossScaler {
  readonly config: Required<LossScaleConfig>;
  /** [scale, clean, skipped, skipped this update] (guard_step.wgsl). */
  readonly state: Tensor;
  /** [1] = scale/accum: the backward seed of the next update. */
  readonly seed: Tensor;
  /** Where it stood after the last update the host has read back (or was restored to). */
  last: LossScaleState;

  constructor(
    readonly gpu: Gpu,
    config: LossScaleConfig,
    readonly accum: number,
  ) {
    this.config = lossScaleConfig(config);
    this.state = empty(gpu, [4], 'f32', 'loss-scale');
    this.seed = empty(gpu, [1], 'f32', 'grad-seed');
    this.last = { scale: this.config.init, clean: 0, skipped: 0 };
    this.restore(this.last);
  }

  /** 1/accum as the guard multiplies it (f32), so seed = scale·invAccum exactly. */
  get invAccum(): number {
    return Math.fround(1 / this.accum);
  }

  /** Puts the GPU state where `s` says (a snapshot's, or the start). */
  restore(s: LossScaleState): void {
    if (!isPow2(s.scale)) throw new Error(`a saved loss scale must be a power of two, got ${s.scale}`);
    this.last = { ...s };
    this.gpu.upload(this.state.view, Float32Array.of(s.scale, s.clean, s.skipped, 0));
    this.gpu.upload(this.seed.view, Float32Array.of(Math.fround(s.scale * this.invAccum)));
  }

  dispose(): void {
    this.state.dispose();
    this.seed.dispose();
  }
}

/** A [4] readback of the state buffer as the host keeps it, with whether that update was skipped. */
export function readState(v: ArrayLike<number>): LossScaleState & { skippedNow: boolean } {
  return { scale: v[0]!, clean: v[1]!, skipped: v[2]!, skippedNow: v[3] === 1 };
}
