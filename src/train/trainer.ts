// The training loop: micro-batches → gradient accumulation → one optimizer update, recorded and submitted as one
// batch of GPU work per update; metrics come back through readbacks that resolve while the next update already runs
// (at most two updates in flight), so the host never waits on the GPU except at evaluations and snapshots.
// A non-finite loss or gradient norm trips the optimizer's GPU-side guard (no update is applied from then on) and
// halts the run when its readback arrives, reporting the step.

import type { Precision } from '../gpu/capabilities';
import { verifyTensorCores } from '../tensor/ops/matmul/tensor-cores';
import { sampleBatch } from '../io/corpus';
import { matchedLayers, type Model } from '../model/model';
import { Optimizer, type OptimizerConfig } from '../optim/optimizer';
import { type LossScaleConfig, LossScaler, type LossScaleState, readState } from '../optim/loss-scale';
import { lrAt, validateSchedule, type Schedule } from '../optim/schedule';
import { backward, empty, fromArray, type Tensor } from '../tensor';
import { accumulate } from '../tensor/ops/elementwise';
import { hasPendingMatmulTuning, tuneMatmuls } from '../tensor/ops/matmul';
import { Rng } from '../util/rng';
import { validationLoss } from './evaluate';
import { flopsPerToken } from './mfu';
import { mfu, type Peak } from './peak';

export interface TrainSettings {
  /** Sequences per micro-batch. */
  batch: number;
  /** Tokens per sequence. */
  ctx: number;
  /** Micro-batches per update. */
  accum: number;
  /** Updates in this run (or round). */
  steps: number;
  schedule: Omit<Schedule, 'total'>;
  optimizer: OptimizerConfig;
  /** Evaluate every this many updates (and after the last); 0 = only after the last. */
  evalEvery: number;
  evalWindows: number;
  /** Seeds the batch sampler. */
  seed: number;
  /**
   * Keep the activations backward reads at the blocks' matmul inputs as f16 (a memory saving; see BlockOptions.half). Weights,
   * gradients, optimizer state and evaluation stay f32. Absent: false.
   */
  halfActivations?: boolean;
  /**
   * Dynamic loss scaling (optim/loss-scale.ts): the backward is seeded with scale/accum, an update whose gradients
   * overflow is skipped and the scale halved, and it doubles after `interval` clean updates. What half-precision
   * gradients need; with f32 ones it changes no bit (scales are powers of two). Absent or null: none.
   */
  lossScale?: LossScaleConfig | null;
  /**
   * `f16-mixed`: f32 master weights and optimizer state, the blocks' weight matrices multiplied as f16 copies the
   * optimizer rewrites at each update, the activations the matmuls take and the output gradients of their backward
   * products as halves, f32 accumulation; the head's products on halves too (a padded f16 copy of its matrix, the
   * final norm's output and dlogits as halves); norms, softmax, attention, cross-entropy's sums and reductions stay
   * f32, and so does evaluation (on the masters). Implies halfActivations and, unless lossScale is given, dynamic loss
   * scaling with MIXED_LOSS_SCALE. Absent: fp32.
   */
  precision?: Precision;
}

/** The loss scaling f16-mixed runs get unless they set their own: PyTorch GradScaler's start and growth interval. */
export const MIXED_LOSS_SCALE: LossScaleConfig = { init: 2 ** 16, interval: 2000 };

/**
 * A distillation teacher and the loss's weights: α on cross-entropy, 1 − α on τ²·KL at temperature τ, and with
 * `hidden` > 0 (kd-hidden) that weight β on the mean over the student's blocks of 1 − cos between each block's output
 * and the teacher's at the matched layer (matchedLayers).
 */
export interface Distill {
  teacher: Model;
  alpha: number;
  tau: number;
  hidden?: number;
}

export interface StepMetrics {
  type: 'step';
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokens: number;
  tokensPerSec: number;
  flopsPerSec: number;
  mfu: number | null;
  elapsedSec: number;
  /** With loss scaling: the scale after this update, and whether the update was skipped (its gradients overflowed). */
  lossScale?: number;
  skipped?: boolean;
}
export interface EvalMetrics {
  type: 'eval';
  step: number;
  valLoss: number;
  elapsedSec: number;
}
export interface HaltEvent {
  type: 'halt';
  step: number;
  reason: string;
}
export type TrainEvent = StepMetrics | EvalMetrics | HaltEvent;

export type TrainOutcome =
  | { status: 'done' | 'stopped'; step: number; valLoss: number | null }
  | { status: 'halted'; step: number; reason: string; valLoss: null };

/** Where a trainer stands between updates: enough, with the parameters and moments, to resume bit for bit. */
export interface TrainerPosition {
  /** Updates completed. */
  step: number;
  /** Batch sampler state (mulberry32). */
  rngState: number;
  optimizerStep: number;
  /** The optimizer's birth steps of parameters added mid-count (continue-mode grows); absent: none. */
  optimizerBorn?: Record<string, number>;
  elapsedSec: number;
  lastValLoss: number | null;
  /** The loss scaler's state (runs with loss scaling). */
  lossScale?: LossScaleState;
}

interface InFlight {
  step: number;
  lr: number;
  metrics: Promise<ArrayBuffer>;
}

export class Trainer {
  readonly optimizer: Optimizer;
  readonly schedule: Schedule;
  /** Training FLOPs per token: the model's, plus a distillation teacher's forward (a third of its own figure). */
  perToken: number;
  /** Logit distillation from a teacher (the kd baseline): each micro-batch runs its forward too. Null: plain CE. */
  private distill: Distill | null = null;
  /** With kd-hidden: the teacher block matched with each of the model's blocks. */
  private teacherLayers: number[] = [];
  private readonly rng: Rng;
  /** [1] = 1/accum (times the loss scale): the backward seed that averages the micro-batches' gradients. */
  private readonly gradSeed: Tensor;
  /** Dynamic loss scaling (TrainSettings.lossScale, or f16-mixed's default), or null. */
  readonly scaler: LossScaler | null;
  /** The step runs in f16-mixed precision (TrainSettings.precision). */
  readonly mixed: boolean;
  /** Where training stands (the optimizer keeps its own count and birth steps; savedPosition() joins them). */
  position: Omit<TrainerPosition, 'optimizerStep' | 'optimizerBorn'>;
  private lastResolved = 0;
  private rate: number[] = [];
  /** Multiplies the scheduled learning rate (and Muon's): 1, or less after a rollback from a non-finite step. */
  lrScale = 1;
  /** Host milliseconds spent recording (encoding and submitting) updates, and how many, since construction. */
  encodeMs = 0;
  encodedSteps = 0;

  constructor(
    readonly model: Model,
    readonly data: { train: Uint32Array; val: Uint32Array },
    readonly settings: TrainSettings,
    readonly peak: Peak | null = null,
  ) {
    // The settings schema checked what the user set; the schedule's own precondition guards its arithmetic.
    validateSchedule({ ...settings.schedule, total: settings.steps });
    this.schedule = { ...settings.schedule, total: settings.steps };
    this.mixed = settings.precision === 'f16-mixed';
    // The f16 copies exist before the optimizer, which rewrites them at each update.
    if (this.mixed) model.enableHalfWeights();
    this.optimizer = new Optimizer(model, settings.optimizer);
    this.rng = new Rng(settings.seed);
    const scaling = settings.lossScale ?? (this.mixed ? MIXED_LOSS_SCALE : null);
    this.scaler = scaling ? new LossScaler(model.gpu, scaling, settings.accum) : null;
    this.gradSeed = this.scaler?.seed ?? fromArray(model.gpu, [1 / settings.accum], [1]);
    this.perToken = flopsPerToken(model.config, settings.ctx);
    this.position = { step: 0, rngState: this.rng.state, elapsedSec: 0, lastValLoss: null };
  }

  /**
   * Trains against `d.teacher`'s logits from now on (α·CE + (1−α)·τ²·KL; see Model.distillLoss), or plainly with null.
   * The teacher is the caller's: it is neither trained nor disposed here. Its forward counts in FLOPs and MFU.
   */
  get distilling(): boolean {
    return this.distill !== null;
  }

  setDistillation(d: Distill | null): void {
    if (d && d.teacher.config.vocabSize !== this.model.config.vocabSize)
      throw new Error(
        `distillation: the teacher's vocabulary (${d.teacher.config.vocabSize}) differs from the model's (${this.model.config.vocabSize})`,
      );
    if (d?.hidden && d.teacher.config.width !== this.model.config.width)
      throw new Error(
        `kd-hidden compares hidden states: the teacher's width (${d.teacher.config.width}) differs from the model's (${this.model.config.width})`,
      );
    if (d && !(d.hidden === undefined || (d.hidden >= 0 && Number.isFinite(d.hidden))))
      throw new Error(`kd-hidden: the cosine term's weight must be a number ≥ 0, got ${d.hidden}`);
    this.distill = d;
    this.teacherLayers = d?.hidden ? matchedLayers(this.model.config.layers, d.teacher.config.layers) : [];
    const teacher = d ? flopsPerToken(d.teacher.config, this.settings.ctx) / 3 : 0;
    this.perToken = flopsPerToken(this.model.config, this.settings.ctx) + teacher;
  }

  get tokensPerStep(): number {
    return this.settings.batch * this.settings.ctx * this.settings.accum;
  }

  get done(): boolean {
    return this.position.step >= this.settings.steps;
  }

  /** Puts the trainer where a snapshot left it (parameters and moments are restored separately). */
  restore(p: TrainerPosition): void {
    const { optimizerStep, optimizerBorn, lossScale, ...position } = p;
    if (this.scaler) {
      if (!lossScale) throw new Error('this snapshot was saved without loss scaling; resume it without');
      this.scaler.restore(lossScale);
    } else if (lossScale) throw new Error('this snapshot was saved with loss scaling; resume it with the same');
    this.rng.setState(p.rngState);
    // The masters were restored after the copies were made: round them again.
    this.model.refreshHalfWeights();
    this.optimizer.step = optimizerStep;
    this.optimizer.born = optimizerBorn ?? {};
    this.position = position;
  }

  /** The position a snapshot records: the trainer's, with the optimizer's count and birth steps as they are now. */
  savedPosition(): TrainerPosition {
    return {
      ...this.position,
      optimizerStep: this.optimizer.step,
      optimizerBorn: this.optimizer.born,
      ...(this.scaler ? { lossScale: { ...this.scaler.last } } : {}),
    };
  }

  /** Records one update (all micro-batches + optimizer) and starts reading its metrics back; does not wait. */
  private enqueue(): InFlight {
    const started = performance.now();
    const { batch: B, ctx: T, accum } = this.settings;
    const gpu = this.model.gpu;
    const step = this.position.step;
    const lr = lrAt(this.schedule, step) * this.lrScale;
    const opt = this.optimizer;
    opt.zeroGrad();
    const lossSum = empty(gpu, [1]);
    gpu.clear(lossSum.view);
    for (let k = 0; k < accum; k++) {
      const { inputs, targets } = sampleBatch(this.data.train, B, T, this.rng);
      const half = this.mixed || !!this.settings.halfActivations;
      const d = this.distill;
      const teacher = d ? { ...d.teacher.hiddenStates(inputs, B, T, this.teacherLayers), w: d.teacher.head() } : null;
      try {
        // root: what backward starts from; loss: what is reported (with kd-hidden, root plus the cosine terms).
        let root: Tensor;
        let loss: Tensor;
        if (d && teacher)
          ({ root, loss } = this.model.distillLoss(inputs, targets, B, T, this.gradSeed, teacher, d, half, this.mixed));
        else root = loss = this.model.loss(inputs, targets, B, T, this.gradSeed, half, this.mixed);
        accumulate(lossSum, loss, 1 / accum);
        // Seeding backward with 1/accum makes the banks hold the gradient of the mean over all micro-batches.
        backward(root, this.gradSeed);
        root.dispose();
        loss.dispose();
      } finally {
        if (teacher) for (const t of [teacher.x, ...teacher.at]) t.dispose();
      }
    }
    const muonLr = opt.cfg.muon.lr * (lr / this.schedule.lr); // Muon's peak, shaped by the same schedule
    const norm = opt.update(lr, { muonLr, loss: lossSum, scaler: this.scaler ?? undefined });
    // [loss, norm] and, with loss scaling, the scaler's state after this update.
    const both = empty(gpu, [this.scaler ? 6 : 2]);
    gpu.copy(lossSum.view, both.range(0, 1));
    gpu.copy(norm.range(0, 1), both.range(1, 1));
    if (this.scaler) gpu.copy(this.scaler.state.view, both.range(2, 4));
    const metrics = gpu.read(both.view);
    // Awaited in order by run(); if an earlier one fails (a lost device), this one must not surface as unhandled.
    metrics.catch(() => undefined);
    for (const t of [lossSum, norm, both]) t.dispose();
    this.position = { ...this.position, step: step + 1, rngState: this.rng.state };
    this.encodeMs += performance.now() - started;
    this.encodedSteps++;
    return { step, lr, metrics };
  }

  private async settle(f: InFlight, t0: number, startElapsed: number): Promise<StepMetrics> {
    const got = new Float32Array(await f.metrics);
    const [loss, gradNorm] = got as unknown as [number, number];
    const scale = this.scaler ? readState(got.subarray(2)) : null;
    if (scale && this.scaler) this.scaler.last = { scale: scale.scale, clean: scale.clean, skipped: scale.skipped };
    const now = performance.now();
    // Tokens/s from the interval between successive completions, averaged over the last 10 updates.
    const dt = (now - this.lastResolved) / 1000;
    this.lastResolved = now;
    this.rate.push(dt);
    if (this.rate.length > 10) this.rate.shift();
    const tokensPerSec = (this.rate.length * this.tokensPerStep) / this.rate.reduce((a, b) => a + b, 0);
    return {
      type: 'step',
      step: f.step,
      loss,
      lr: f.lr,
      gradNorm,
      tokens: (f.step + 1) * this.tokensPerStep,
      tokensPerSec,
      flopsPerSec: tokensPerSec * this.perToken,
      mfu: mfu(tokensPerSec, this.perToken, this.peak),
      elapsedSec: startElapsed + (now - t0) / 1000,
      ...(scale ? { lossScale: scale.scale, skipped: scale.skippedNow } : {}),
    };
  }

  /**
   * Trains until the last update, `until` updates, or `shouldStop()` says so (checked between updates). Emits a step
   * event per update (in order), eval events, and a halt event if a step went non-finite.
   */
  async run(
    onEvent: (e: TrainEvent) => void,
    opts: { until?: number; shouldStop?: () => boolean } = {},
  ): Promise<TrainOutcome> {
    const until = Math.min(opts.until ?? this.settings.steps, this.settings.steps);
    // f16-mixed trusts the device's tensor cores only once they have multiplied right (once per device; a wrong tile
    // is turned off and the products run on the FP32 kernels).
    if (this.mixed) await verifyTensorCores(this.model.gpu);
    const t0 = performance.now();
    const startElapsed = this.position.elapsedSec;
    this.lastResolved = t0;
    this.rate = [];
    const queue: InFlight[] = [];
    let halted: HaltEvent | null = null;
    const drainOne = async () => {
      const m = await this.settle(queue.shift()!, t0, startElapsed);
      this.position.elapsedSec = m.elapsedSec;
      if (halted) return;
      // An update the loss scaler skipped (its gradients overflowed) is reported as such; the run goes on.
      if (!m.skipped && (!Number.isFinite(m.loss) || !Number.isFinite(m.gradNorm))) {
        const what = !Number.isFinite(m.loss)
          ? `loss ${m.loss}`
          : `gradient norm ${m.gradNorm}${this.scaler ? ` with the loss scale at its minimum, 2^${Math.log2(this.scaler.config.min)}` : ''}`;
        halted = {
          type: 'halt',
          step: m.step,
          reason: `step ${m.step + 1}: ${what}; the update was not applied (parameters are as after step ${m.step}). Lower the learning rate or resume from the last checkpoint.`,
        };
        onEvent(halted);
        return;
      }
      onEvent(m);
    };
    const evalNow = async () => {
      while (queue.length) await drainOne();
      if (halted) return;
      const valLoss = await validationLoss(this.model, this.data.val, this.settings.ctx, this.settings.evalWindows);
      this.position.lastValLoss = valLoss;
      onEvent({ type: 'eval', step: this.position.step, valLoss, elapsedSec: this.position.elapsedSec });
      this.lastResolved = performance.now(); // the evaluation is not a training interval (tokens/s, MFU)
    };
    let stopped = false;
    while (this.position.step < until && !halted) {
      if (opts.shouldStop?.()) {
        stopped = true;
        break;
      }
      queue.push(this.enqueue());
      if (hasPendingMatmulTuning(this.model.gpu)) {
        while (queue.length) await drainOne();
        await tuneMatmuls(this.model.gpu);
        this.lastResolved = performance.now(); // the tuning pause is not a training interval
      }
      if (queue.length >= 2) await drainOne();
      const s = this.position.step;
      if (s === this.settings.steps || (this.settings.evalEvery > 0 && s % this.settings.evalEvery === 0))
        await evalNow();
    }
    while (queue.length) await drainOne();
    if (halted) {
      const h: HaltEvent = halted;
      return { status: 'halted', step: h.step, reason: h.reason, valLoss: null };
    }
    return {
      status: stopped || !this.done ? 'stopped' : 'done',
      step: this.position.step,
      valLoss: this.position.lastValLoss,
    };
  }

  dispose(): void {
    if (this.scaler) this.scaler.dispose();
    else this.gradSeed.dispose();
    this.optimizer.dispose();
  }
}
