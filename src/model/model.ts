// A model of any registered family on the GPU: its parameters live in a few flat buffers (banks, see params.ts), each
// parameter a view; the forward pass composed from the family's pieces (embedding, blocks, final norm, head), the loss
// through the chunked head, logits; host round trips for export. Parameters load one tensor at a time, so a checkpoint
// never has to sit in host memory whole.

import type { Gpu } from '../gpu/runtime';
import {
  add,
  empty,
  fromArray,
  headCrossEntropy,
  headDistill,
  hiddenCosine,
  matmul,
  noGrad,
  reshape,
  type Tensor,
  tidy,
} from '../tensor';
import { paddedVocab } from '../tensor/ops/head';
import { untrack, zeros } from '../tensor/tensor';
import type { ModelConfig, ModelFamily, ParamLookup, ParamSpec } from './family';
import { launchToHalf } from '../tensor/ops/cast';
import { tape } from '../tensor/tape';
import { type ParamLayout, type ParamSlot, paramLayout, readSlots } from './params';
import { familyOf } from './registry';

/** Source of a parameter's values by name (a checkpoint reader, an init map, …). */
export type ParamSource = (name: string, shape: readonly number[]) => Promise<Float32Array> | Float32Array;

/** A distillation teacher's part of a step: its final hidden states [B·T, C_T], its head, kd-hidden's matched states. */
export interface DistillTeacher {
  x: Tensor;
  w: Tensor;
  /** kd-hidden: per student block, the teacher's output of the matched block [B·T, C]. */
  at?: readonly Tensor[];
}

/** Distillation's weights: α on CE, τ the temperature, `hidden` kd-hidden's β on the cosine term (absent or 0: off). */
export interface DistillWeights {
  alpha: number;
  tau: number;
  hidden?: number;
}

export class Model<C extends ModelConfig = ModelConfig> {
  readonly params = new Map<string, Tensor>();
  readonly family: ModelFamily<C>;
  /** The parameter table, in checkpoint order. */
  readonly specs: ParamSpec[];
  /**
   * f16-mixed training's weight copies (enableHalfWeights): per bank an f16 buffer holding every parameter rounded to
   * halves at its own element offset; the optimizer rewrites them as it updates the masters. Null until enabled.
   */
  halfBanks: Tensor[] | null = null;

  private constructor(
    readonly gpu: Gpu,
    readonly config: C,
    readonly layout: ParamLayout,
    readonly banks: Tensor[],
  ) {
    this.family = familyOf(config) as unknown as ModelFamily<C>;
    this.specs = this.family.params(config);
  }

  /** Allocates the banks and fills every parameter from `source`, reporting progress per tensor. */
  static async create<C extends ModelConfig>(
    gpu: Gpu,
    config: C,
    source: ParamSource,
    onProgress?: (done: number, total: number, name: string) => void,
  ): Promise<Model<C>> {
    const family = familyOf(config) as unknown as ModelFamily<C>;
    family.validate(config);
    const layout = paramLayout(family.params(config), Math.floor(gpu.limits.maxBinding / 4));
    const banks = layout.bankSizes.map((n) => empty(gpu, [n], 'f32', 'params'));
    // The alignment gaps between views are never read by the model, but optimizers sweep whole banks.
    for (const b of banks) gpu.clear(b.view);
    const model = new Model(gpu, config, layout, banks);
    try {
      let done = 0;
      for (const slot of layout.slots) {
        const data = await source(slot.name, slot.shape);
        if (data.length !== slot.size)
          throw new Error(`Parameter ${slot.name}: ${data.length} values for shape [${slot.shape.join(', ')}]`);
        const view = banks[slot.bank]!.slice(slot.offset, slot.shape);
        view.requiresGrad = true;
        gpu.upload(view.view, data);
        model.params.set(slot.name, view);
        onProgress?.(++done, layout.slots.length, slot.name);
      }
    } catch (e) {
      model.dispose();
      throw e;
    }
    return model;
  }

  readonly lookup = (name: string): Tensor => {
    const t = this.params.get(name);
    if (!t) throw new Error(`The ${this.family.label} model has no parameter ${name}`);
    return t;
  };

  /** The blocks' weight matrices by name: the parameters f16-mixed training multiplies as their f16 copies. */
  private readonly matrices = new Map<string, ParamSlot>();

  /**
   * Allocates the f16 weight copies (once) and rounds every parameter into them; the optimizer keeps them current
   * from then on (a restore that overwrites the masters calls refreshHalfWeights).
   */
  enableHalfWeights(): void {
    if (!this.halfBanks) {
      this.halfBanks = this.layout.bankSizes.map((n) => empty(this.gpu, [n], 'f16', 'params f16'));
      for (const s of this.layout.slots) if (isHalfMatrix(s)) this.matrices.set(s.name, s);
      const [V, C] = this.family.head(this.lookup, this.config).shape as [number, number];
      // An odd width keeps the f32 head (rows of halves would not start on words).
      if (C % 2 === 0) {
        this.halfHead = zeros(this.gpu, [paddedVocab(V), C], 'f16');
        untrack(this.halfHead); // the model's, past any caller's scope
      }
    }
    this.refreshHalfWeights();
  }

  /**
   * f16-mixed's head matrix as halves padded with zero rows to whole 64-row tiles ([paddedVocab(V), C]), which the
   * seeded head multiplies on tensor cores (tensor/ops/head.ts). Kept current with the other f16 copies: rounded by
   * refreshHalfWeights and, after each update, by the optimizer (refreshHalfHead). Null without copies, or for an
   * odd width.
   */
  private halfHead: Tensor | null = null;

  /** The padded f16 head copy (read-only use: checks). */
  get paddedHalfHead(): Tensor | null {
    return this.halfHead;
  }

  /** Rounds the head matrix into its padded f16 copy again (the optimizer, after an update; nothing without one). */
  refreshHalfHead(): void {
    if (!this.halfHead) return;
    const w = this.family.head(this.lookup, this.config);
    launchToHalf(this.gpu, w.view, this.halfHead.view, w.size);
  }

  /** Rounds every master parameter into its f16 copy again (nothing without copies). */
  refreshHalfWeights(): void {
    this.halfBanks?.forEach((h, i) => {
      launchToHalf(this.gpu, this.banks[i]!.view, h.view, h.size);
    });
    this.refreshHalfHead();
  }

  /**
   * The lookup of f16-mixed training: a block weight matrix as its f16 copy (recorded as the master's rounding, so
   * its gradient reaches the f32 master as toHalf's does), everything else (embeddings, norms, biases, the head) as
   * the f32 master; the seeded head multiplies its own padded f16 copy (halfHead) and sends its gradient to the master.
   */
  private readonly mixedLookup = (name: string): Tensor => {
    const master = this.lookup(name);
    const slot = this.matrices.get(name);
    if (!slot || !this.halfBanks) return master;
    const h = this.halfBanks[slot.bank]!.slice(slot.offset, slot.shape);
    tape.record('toHalf', [master], [h], {});
    return h;
  };

  /** A training step's parameter lookup: the f16 copies of the blocks' matrices with `halfWeights` (f16-mixed). */
  private stepLookup(halfWeights: boolean): ParamLookup {
    if (halfWeights && !this.halfBanks) throw new Error('f16 weights asked for before enableHalfWeights()');
    return halfWeights ? this.mixedLookup : this.lookup;
  }

  private checkBatch(tokens: Int32Array, B: number, T: number): void {
    if (T > this.config.positions)
      throw new Error(`Context ${T} exceeds the model's ${this.config.positions} positions.`);
    if (tokens.length !== B * T) throw new Error(`${tokens.length} tokens for a batch of ${B}×${T}`);
  }

  private forward(tokens: Int32Array, B: number, T: number, half: boolean): Tensor {
    return forwardHidden(this.family, this.lookup, this.config, tokens, B, T, half);
  }

  /**
   * Mean next-token loss (recorded for backward unless under noGrad); the head runs in chunks. `seed`: the [1]
   * gradient backward will be seeded with, if known now (a training step's); the head then makes its gradients in
   * this pass (see headCrossEntropy). `halfActivations`: keep the matmul inputs backward needs as f16.
   * `halfWeights`: multiply the blocks' weight matrices as their f16 copies (f16-mixed; needs enableHalfWeights).
   */
  loss(
    tokens: Int32Array,
    targets: Int32Array,
    B: number,
    T: number,
    seed?: Tensor,
    halfActivations = false,
    halfWeights = false,
  ): Tensor {
    this.checkBatch(tokens, B, T);
    const p = this.stepLookup(halfWeights);
    return forwardLoss(this.family, p, this.config, tokens, targets, B, T, {
      seed,
      half: halfActivations,
      halfHead: (halfWeights && this.halfHead) || undefined,
    });
  }

  /**
   * The distillation loss of a training step (tensor/ops/head.ts headDistill): α·CE + (1−α)·τ²·KL to the teacher's
   * logits, which come from `teacher` (its final hidden states for the same tokens [B·T, C_T] and its head), chunk by
   * chunk. With `kd.hidden` (kd-hidden) also β·mean over the student's blocks of the cosine term (ops/hidden-cosine.ts)
   * between block l's output and `teacher.at[l]`, the teacher's state at the matched layer [B·T, C]. The gradients are
   * made in this pass for `seed`, which backward must be given from `root`; `loss` is the whole loss to report (the
   * same tensor as root without the cosine term). Dispose both.
   */
  distillLoss(
    tokens: Int32Array,
    targets: Int32Array,
    B: number,
    T: number,
    seed: Tensor,
    teacher: DistillTeacher,
    kd: DistillWeights,
    halfActivations = false,
    halfWeights = false,
  ): { root: Tensor; loss: Tensor } {
    this.checkBatch(tokens, B, T);
    const p = this.stepLookup(halfWeights);
    return forwardDistillLoss(this.family, p, this.config, tokens, targets, B, T, seed, teacher, kd, halfActivations);
  }

  /** Full logits [B·T, V]: for sampling and small debug batches only (B·T·V floats). */
  logits(tokens: Int32Array, B: number, T: number): Tensor {
    this.checkBatch(tokens, B, T);
    return noGrad(() =>
      tidy(() =>
        matmul(this.forward(tokens, B, T, false), this.family.head(this.lookup, this.config), { transB: true }),
      ),
    );
  }

  /** Final hidden states [B·T, C]. */
  hidden(tokens: Int32Array, B: number, T: number): Tensor {
    this.checkBatch(tokens, B, T);
    return noGrad(() => this.forward(tokens, B, T, false));
  }

  /**
   * The final hidden states [B·T, C] and, for each block index in `layers`, that block's output (the residual
   * stream, before the final norm) as [B·T, C], in the order asked (views that keep their storage: dispose each).
   */
  hiddenStates(tokens: Int32Array, B: number, T: number, layers: readonly number[]): { x: Tensor; at: Tensor[] } {
    this.checkBatch(tokens, B, T);
    for (const l of layers)
      if (!(Number.isInteger(l) && l >= 0 && l < this.config.layers))
        throw new Error(`hidden states: block ${l} does not exist (the model has ${this.config.layers})`);
    return hiddenStatesOf(this.family, this.lookup, this.config, tokens, B, T, layers);
  }

  /** The output matrix [V, C] (logits = hidden·headᵀ). */
  head(): Tensor {
    return this.family.head(this.lookup, this.config);
  }

  /**
   * Gives every parameter a gradient that is a view into flat gradient banks laid out like the parameters, so an
   * optimizer can update each bank with one dispatch per decay range. Returns the banks (zeroed).
   */
  flatGradients(): Tensor[] {
    const gbanks = this.layout.bankSizes.map((n) => empty(this.gpu, [n], 'f32', 'grads'));
    for (const g of gbanks) this.gpu.clear(g.view);
    for (const slot of this.layout.slots) {
      const p = this.params.get(slot.name)!;
      p.grad?.dispose();
      p.grad = gbanks[slot.bank]!.slice(slot.offset, slot.shape);
    }
    return gbanks;
  }

  /**
   * Copies every parameter to the host, in checkpoint order (views into one array per bank, read as of the call: a
   * model disposed while the values arrive still gives them).
   */
  async toHost(): Promise<Map<string, Float32Array>> {
    if (!this.params.size)
      throw new Error('The model was replaced (it grew, or its phase ended) before it could be read: try again.');
    return readSlots(this.layout, this.banks);
  }

  /** Disposed (its parameters freed): a model replaced by a grow or the next phase. */
  get disposed(): boolean {
    return this.params.size === 0;
  }

  dispose(): void {
    for (const p of this.params.values()) p.dispose();
    for (const b of [...this.banks, ...(this.halfBanks ?? [])]) b.dispose();
    this.halfBanks = null;
    this.halfHead?.dispose();
    this.halfHead = null;
    this.params.clear();
  }
}

/** Whether f16-mixed training multiplies this parameter as its f16 copy: the blocks' weight matrices. */
export function isHalfMatrix(s: Pick<ParamSpec, 'role' | 'shape'>): boolean {
  return s.role === 'weight' && s.shape.length === 2;
}

/**
 * A family's final hidden states [B·T, C] (after the final norm) of tokens [B·T], its parameters by `p`. Each block
 * runs in its own scope: what backward needs is held by the tape, the rest goes back to the pool at once, so a pass
 * peaks at the saved activations plus one block's temporaries; a block's input is freed once the block has run (the
 * nodes that need it keep it).
 */
export function forwardHidden<C extends ModelConfig>(
  family: ModelFamily<C>,
  p: ParamLookup,
  c: C,
  tokens: Int32Array,
  B: number,
  T: number,
  half = false,
  tap?: (layer: number, x: Tensor) => Tensor,
  halfOut = false,
): Tensor {
  return tidy(() => {
    let x = family.embed(p, c, tokens, B, T);
    for (let l = 0; l < c.layers; l++) {
      const input = x;
      x = tidy(() => family.block(p, c, l, input, { half }));
      input.dispose();
      if (tap) {
        const out = x;
        x = tap(l, out);
        if (x !== out) out.dispose();
      }
    }
    const xf = family.finalNorm(p, c, x, { half: halfOut });
    return reshape(xf, [B * T, xf.shape[2]!]);
  });
}

/** A family's mean next-token loss of tokens against targets [B·T] (negative = ignored), the head in chunks. */
export function forwardLoss<C extends ModelConfig>(
  family: ModelFamily<C>,
  p: ParamLookup,
  c: C,
  tokens: Int32Array,
  targets: Int32Array,
  B: number,
  T: number,
  opts: { seed?: Tensor; half?: boolean; halfHead?: Tensor } = {},
): Tensor {
  // With the padded f16 head (f16-mixed, seeded), the final norm's output is halves: the head's products then take
  // two f16 operands (tensor cores).
  const halfOut = opts.seed !== undefined && opts.halfHead !== undefined;
  return tidy(() =>
    headCrossEntropy(
      forwardHidden(family, p, c, tokens, B, T, opts.half, undefined, halfOut),
      family.head(p, c),
      targets,
      { seed: opts.seed, half: halfOut ? opts.halfHead : undefined },
    ),
  );
}

/** See Model.hiddenStates: the final hidden states and the outputs of the blocks in `layers`, without gradients. */
export function hiddenStatesOf<C extends ModelConfig>(
  family: ModelFamily<C>,
  p: ParamLookup,
  c: C,
  tokens: Int32Array,
  B: number,
  T: number,
  layers: readonly number[],
): { x: Tensor; at: Tensor[] } {
  for (const l of layers)
    if (!(Number.isInteger(l) && l >= 0 && l < c.layers))
      throw new Error(`hidden states: block ${l} does not exist (the model has ${c.layers})`);
  // Views of the asked-for block outputs, kept out of forwardHidden's scopes while it runs; the caller gets fresh
  // views made here, in its own scope (a tidy around the call frees them as it frees any result), one per entry.
  const kept = new Map<number, Tensor>();
  const tap = (l: number, x: Tensor): Tensor => {
    if (layers.includes(l) && !kept.has(l)) {
      const v = x.slice(0, [B * T, x.shape[x.shape.length - 1]!]);
      untrack(v);
      kept.set(l, v);
    }
    return x;
  };
  try {
    const x = noGrad(() => forwardHidden(family, p, c, tokens, B, T, false, tap));
    return { x, at: layers.map((l) => kept.get(l)!.slice(0, kept.get(l)!.shape)) };
  } finally {
    for (const v of kept.values()) v.dispose();
  }
}

/**
 * See Model.distillLoss: logit distillation through the chunked head and, with `kd.hidden` = β > 0, kd-hidden's
 * cosine terms on every block's output (each weighted β/layers), all made for `seed`.
 */
export function forwardDistillLoss<C extends ModelConfig>(
  family: ModelFamily<C>,
  p: ParamLookup,
  c: C,
  tokens: Int32Array,
  targets: Int32Array,
  B: number,
  T: number,
  seed: Tensor,
  teacher: DistillTeacher,
  kd: DistillWeights,
  half = false,
): { root: Tensor; loss: Tensor } {
  const beta = kd.hidden ?? 0;
  const at = teacher.at ?? [];
  if (beta > 0 && at.length !== c.layers)
    throw new Error(`kd-hidden: ${at.length} teacher states for the student's ${c.layers} blocks`);
  const terms: Tensor[] = [];
  let tgt: Tensor | null = null; // the targets on the GPU, uploaded once for every block's term
  const tap =
    beta > 0
      ? (l: number, x: Tensor): Tensor => {
          let t = tgt;
          if (!t) {
            t = tgt = fromArray(x.gpu, targets, [targets.length], 'i32');
            untrack(t);
          }
          const { y, loss } = hiddenCosine(x, at[l]!, t, { scale: beta / c.layers, seed, vocab: c.vocabSize });
          untrack(loss);
          terms.push(loss);
          return y;
        }
      : undefined;
  try {
    const root = tidy(() =>
      headDistill(forwardHidden(family, p, c, tokens, B, T, half, tap), family.head(p, c), targets, teacher, {
        alpha: kd.alpha,
        tau: kd.tau,
        seed,
      }),
    );
    if (!terms.length) return { root, loss: root };
    const loss = noGrad(() => tidy(() => terms.reduce((a, b) => add(a, b), root)));
    return { root, loss };
  } finally {
    for (const t of terms) t.dispose();
    (tgt as Tensor | null)?.dispose();
  }
}

/**
 * kd-hidden's layer map: for each of a student's n blocks, the teacher block (of L) whose output its output is
 * compared with: block l ↔ ⌈(l + 1)·L/n⌉ − 1, spread evenly, last with last (n = L: each with itself).
 */
export function matchedLayers(n: number, L: number): number[] {
  return Array.from({ length: n }, (_, l) => Math.ceil(((l + 1) * L) / n) - 1);
}
