// The optimizer over a model's parameter banks: AdamW for everything (DESIGN.md), or Muon for the hidden 2-D matrices
// with AdamW for the rest. Gradients are views into flat banks laid out like the parameters, so AdamW runs as a few
// fused dispatches over contiguous ranges of a bank. The state is two moment banks per parameter bank (Muon's momentum
// buffer lives in the first, at its matrix's slot) plus the update count. Nothing is read back: the clip factor and
// the step guard (a non-finite loss or gradient norm skips the whole update, and every later one) act on the GPU.

import type { Model } from '../model/model';
import { PARAM_ALIGN_ELEMS, type ParamSlot } from '../model/params';
import { empty, type Tensor } from '../tensor';
import { launchToHalf } from '../tensor/ops/cast';
import { launchReduce } from '../tensor/ops/reduce';
import { launchAdamW } from './adamw';
import type { LossScaler } from './loss-scale';
import { launchGuard, launchMuonMomentum, launchMuonUpdate, muonScale, newtonSchulz, nsStride } from './muon';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Global-norm clip threshold; 0 disables clipping. */
  maxNorm: number;
}

export interface MuonConfig {
  /** Peak learning rate of the Muon matrices; the schedule scales it like the AdamW rate. */
  lr: number;
  momentum: number;
  nesterov: boolean;
  nsSteps: number;
  weightDecay: number;
}

export type OptimizerKind = 'adamw' | 'muon';

export interface OptimizerConfig {
  kind: OptimizerKind;
  adamw: AdamWConfig;
  muon: MuonConfig;
}

/** DESIGN.md's AdamW: β (0.9, 0.95), eps 1e-8, decoupled decay on 2-D tensors, global-norm clip 1.0. */
export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxNorm: 1.0 };
/** Muon as its authors run it on GPT-2: lr 0.02, Nesterov momentum 0.95, 5 Newton–Schulz steps, no weight decay. */
export const MUON_DEFAULTS: MuonConfig = { lr: 0.02, momentum: 0.95, nesterov: true, nsSteps: 5, weightDecay: 0 };

export function optimizerConfig(
  kind: OptimizerKind = 'adamw',
  over: { adamw?: Partial<AdamWConfig>; muon?: Partial<MuonConfig> } = {},
): OptimizerConfig {
  return { kind, adamw: { ...ADAMW_DEFAULTS, ...over.adamw }, muon: { ...MUON_DEFAULTS, ...over.muon } };
}

/** The hidden 2-D matrices Muon owns (DESIGN.md): those the family's parameter table marks (ParamSpec.muon). */
export function isMuonMatrix(s: Pick<ParamSlot, 'muon'>): boolean {
  return s.muon !== null;
}

interface AdamWRange {
  bank: number;
  lo: number;
  hi: number;
  wd: number;
  /** The update count at which these parameters' state began (their bias corrections count from it). */
  born: number;
}

/**
 * Contiguous runs of AdamW-owned slots with the same decay and the same birth step, per bank (alignment gaps are
 * zero and stay zero).
 */
function adamwRanges(
  slots: readonly ParamSlot[],
  owned: (s: ParamSlot) => boolean,
  wd: number,
  born: Readonly<Record<string, number>>,
): AdamWRange[] {
  const out: (AdamWRange & { end: number })[] = [];
  const align = (n: number) => Math.ceil(n / PARAM_ALIGN_ELEMS) * PARAM_ALIGN_ELEMS;
  let run: (AdamWRange & { end: number }) | null = null;
  for (const s of [...slots].sort((a, b) => a.bank - b.bank || a.offset - b.offset)) {
    const w = s.decay ? wd : 0;
    const b = born[s.name] ?? 0;
    if (!owned(s)) {
      run = null;
      continue;
    }
    if (run && run.bank === s.bank && run.end === s.offset && run.wd === w && run.born === b) {
      run.hi = s.offset + s.size;
      run.end = s.offset + align(s.size);
    } else {
      run = { bank: s.bank, lo: s.offset, hi: s.offset + s.size, wd: w, born: b, end: s.offset + align(s.size) };
      out.push(run);
    }
  }
  return out.map(({ end: _, ...r }) => r);
}

export class Optimizer {
  readonly grads: Tensor[];
  /** First moments (AdamW) and momentum buffers (Muon), laid out like the parameter banks. */
  readonly m: Tensor[];
  /** Second moments (AdamW). */
  readonly v: Tensor[];
  /** [1]: set on the GPU by the first non-finite step; from then on every update is skipped. */
  readonly halted: Tensor;
  /** Updates taken so far (bias corrections use step + 1). */
  step = 0;
  /**
   * Per parameter name, the update count at which its AdamW state began, where not 0: a grow in `continue` mode adds
   * tensors with fresh state mid-count, and their bias corrections count from there (as a new PyTorch state's would).
   */
  private bornAt: Record<string, number> = {};
  private ranges: AdamWRange[];
  private readonly adamwOwned: (s: ParamSlot) => boolean;
  /** Muon matrices in batches of one shape, orthogonalised together (each batch's scratch ≤ MUON_BATCH_BYTES). */
  private readonly muonBatches: { slots: ParamSlot[]; rows: number; cols: number; stride: number }[];

  private readonly muonScratch: Tensor[];

  constructor(
    readonly model: Model,
    readonly cfg: OptimizerConfig = optimizerConfig(),
  ) {
    const gpu = model.gpu;
    this.grads = model.flatGradients();
    const zeros = (label: string) =>
      model.layout.bankSizes.map((n) => {
        const t = empty(gpu, [n], 'f32', label);
        gpu.clear(t.view);
        return t;
      });
    this.m = zeros('moments');
    this.v = zeros('moments');
    this.halted = empty(gpu, [1], 'f32', 'halted');
    gpu.clear(this.halted.view);
    const muon = cfg.kind === 'muon' ? isMuonMatrix : () => false;
    this.muonBatches = muonBatches(model.layout.slots.filter(muon), gpu.limits.maxBinding);
    this.adamwOwned = (s) => !muon(s);
    this.ranges = adamwRanges(model.layout.slots, this.adamwOwned, cfg.adamw.weightDecay, this.bornAt);
    // Momentum outputs and orthogonalised updates of one batch of Muon matrices, sized for the largest batch.
    const most = Math.max(0, ...this.muonBatches.map((b) => b.slots.length * b.stride));
    this.muonScratch = most ? [empty(gpu, [most]), empty(gpu, [most])] : [];
  }

  /** Zeroes the gradient banks (before the micro-batches of the next update). */
  zeroGrad(): void {
    for (const g of this.grads) this.model.gpu.clear(g.view);
  }

  /**
   * Applies one update from the accumulated gradients: AdamW at `lr`, Muon matrices at `muonLr` (default: Muon's
   * peak, cfg.muon.lr; a scheduled run passes the peak shaped by its schedule). `loss` [1], when given, joins the guard.
   * `scaler`: the gradients are loss-scaled by it (its seed seeded the backward); the guard unscales them, skips an
   * update that overflowed and moves the scale (loss-scale.ts).
   * Returns the pre-clip global gradient norm as a [2] tensor, the norm in [0] (NaN once the guard tripped, or for an
   * update the scaler skipped): read it later, or dispose.
   */
  update(lr: number, opts: { muonLr?: number; loss?: Tensor; scaler?: LossScaler } = {}): Tensor {
    const muonLr = opts.muonLr ?? this.cfg.muon.lr;
    for (const [what, v] of [
      ['learning rate', lr],
      ['Muon learning rate', muonLr],
    ] as const) {
      if (!(v >= 0) || !Number.isFinite(v)) throw new Error(`${what} must be a finite number ≥ 0, got ${v}`);
    }
    const gpu = this.model.gpu;
    // [0]: ‖g‖ (the guard turns it into the true norm, or NaN); [1]: the factor the gradients are read with.
    const norm = empty(gpu, [2]);
    launchReduce(
      gpu,
      this.grads.map((g) => ({ view: g.view, n: g.size })),
      norm.range(0, 1),
      { square: true, sqrt: true },
    );
    const scaled = !!opts.scaler;
    launchGuard(gpu, opts.loss?.view ?? gpu.dummy, norm.view, this.halted.view, opts.scaler);
    this.step++;
    const a = this.cfg.adamw;
    // f16-mixed: AdamW rewrites the f16 weight copies as it updates (no pass of their own); Muon's matrices are
    // rounded after their update.
    const halves = this.model.halfBanks;
    for (const r of this.ranges) {
      const at = (banks: Tensor[]) => banks[r.bank]!.range(r.lo, r.hi - r.lo);
      launchAdamW(gpu, {
        half: halves ? at(halves) : null,
        param: at(this.model.banks),
        grad: at(this.grads),
        m: at(this.m),
        v: at(this.v),
        n: r.hi - r.lo,
        step: this.step - r.born,
        lr,
        beta1: a.beta1,
        beta2: a.beta2,
        eps: a.eps,
        wd: r.wd,
        gradNorm: norm.view,
        maxNorm: a.maxNorm,
        scaled,
      });
    }
    // The head's padded f16 copy (the tensor-core head) is a pass of its own: it has rows the banks do not.
    if (halves) this.model.refreshHalfHead();
    const mu = this.cfg.muon;
    for (const { slots, rows, cols, stride } of this.muonBatches) {
      const [upd, ortho] = this.muonScratch as [Tensor, Tensor];
      slots.forEach((s, l) => {
        const at = (banks: Tensor[]) => banks[s.bank]!.range(s.offset, s.size);
        launchMuonMomentum(
          gpu,
          at(this.grads),
          at(this.m),
          upd.range(l * stride, s.size),
          s.size,
          mu.momentum,
          mu.nesterov,
          norm.view,
          scaled,
        );
      });
      newtonSchulz(gpu, upd.view, ortho.view, rows, cols, mu.nsSteps, slots.length, stride);
      slots.forEach((s, l) => {
        // Muon's factor counts outputs over inputs whatever the storage order (ParamSpec.muon).
        launchMuonUpdate(
          gpu,
          this.model.banks[s.bank]!.range(s.offset, s.size),
          ortho.range(l * stride, s.size),
          s.size,
          muonLr,
          mu.weightDecay,
          muonScale(s.muon!.outputs, s.muon!.inputs),
          norm.view,
        );
        if (halves)
          launchToHalf(
            gpu,
            this.model.banks[s.bank]!.range(s.offset, s.size),
            halves[s.bank]!.range(s.offset, s.size),
            s.size,
          );
      });
    }
    return norm;
  }

  /**
   * Takes over another optimizer's state for every parameter both models have with the same shape (grow in
   * `continue` mode): moments and the update count; parameters new to this model get fresh state, zero moments and
   * bias corrections counted from now.
   */
  inheritState(from: Optimizer): void {
    const gpu = this.model.gpu;
    const old = new Map(from.model.layout.slots.map((s) => [s.name, s]));
    const born: Record<string, number> = {};
    for (const s of this.model.layout.slots) {
      const o = old.get(s.name);
      if (!o || o.shape.join() !== s.shape.join()) {
        born[s.name] = from.step;
        continue;
      }
      born[s.name] = from.bornAt[s.name] ?? 0;
      for (const [dst, src] of [
        [this.m, from.m],
        [this.v, from.v],
      ] as const)
        gpu.copy(src[o.bank]!.range(o.offset, o.size), dst[s.bank]!.range(s.offset, s.size));
    }
    this.step = from.step;
    this.born = born;
  }

  /** The birth steps (for snapshots; only the non-zero ones). */
  get born(): Record<string, number> {
    return { ...this.bornAt };
  }

  set born(b: Record<string, number>) {
    this.bornAt = Object.fromEntries(Object.entries(b).filter(([, v]) => v !== 0));
    this.ranges = adamwRanges(this.model.layout.slots, this.adamwOwned, this.cfg.adamw.weightDecay, this.bornAt);
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v, this.halted, ...this.muonScratch]) t.dispose();
  }
}

/** Scratch bytes per Newton–Schulz batch, at most (each of its four [batch, R, C] buffers). */
const MUON_BATCH_BYTES = 32 * 2 ** 20;

/**
 * Groups Muon matrices by shape, in layout order, into batches whose [batch × stride] buffers stay under
 * MUON_BATCH_BYTES and the binding limit (a matrix larger than that is a batch of its own).
 */
export function muonBatches(
  slots: ParamSlot[],
  maxBinding: number,
): { slots: ParamSlot[]; rows: number; cols: number; stride: number }[] {
  const cap = Math.min(MUON_BATCH_BYTES, maxBinding);
  const byShape = new Map<string, ParamSlot[]>();
  for (const s of slots) {
    const key = s.shape.join('×');
    if (!byShape.has(key)) byShape.set(key, []);
    byShape.get(key)!.push(s);
  }
  const out: { slots: ParamSlot[]; rows: number; cols: number; stride: number }[] = [];
  for (const group of byShape.values()) {
    const [rows, cols] = group[0]!.shape as [number, number];
    const stride = nsStride(rows, cols);
    const per = Math.max(1, Math.floor(cap / (stride * 4)));
    for (let i = 0; i < group.length; i += per) out.push({ slots: group.slice(i, i + per), rows, cols, stride });
  }
  return out;
}
