// A GPT-2 on the GPU: its parameters live in a few flat buffers (banks, see params.ts), each parameter a view; the
// forward pass, loss and logits; host round trips for export. Parameters load one tensor at a time, so a checkpoint
// never has to sit in host memory whole.

import type { Gpu } from '../gpu/runtime';
import { empty, noGrad, type Tensor } from '../tensor';
import { type Gpt2Config, validateConfig } from './config';
import { gpt2Hidden, gpt2Logits, gpt2Loss, type Gpt2Shape } from './forward';
import { type ParamLayout, paramLayout, paramSpecs, readSlots } from './params';

/** Source of a parameter's values by name (a checkpoint reader, an init map, …). */
export type ParamSource = (name: string, shape: readonly number[]) => Promise<Float32Array> | Float32Array;

export class Gpt2Model {
  readonly params = new Map<string, Tensor>();
  private constructor(
    readonly gpu: Gpu,
    readonly config: Gpt2Config,
    readonly layout: ParamLayout,
    readonly banks: Tensor[],
  ) {}

  /** Allocates the banks and fills every parameter from `source`, reporting progress per tensor. */
  static async create(
    gpu: Gpu,
    config: Gpt2Config,
    source: ParamSource,
    onProgress?: (done: number, total: number, name: string) => void,
  ): Promise<Gpt2Model> {
    validateConfig(config);
    const maxBank = Math.floor(gpu.limits.maxBinding / 4);
    const layout = paramLayout(paramSpecs(config), maxBank);
    const banks = layout.bankSizes.map((n) => empty(gpu, [n], 'f32', 'params'));
    // The alignment gaps between views are never read by the model, but optimizers sweep whole banks.
    for (const b of banks) gpu.clear(b.view);
    const model = new Gpt2Model(gpu, config, layout, banks);
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
    if (!t) throw new Error(`GPT-2 has no parameter ${name}`);
    return t;
  };

  private shape(halfActivations = false): Gpt2Shape {
    return { nLayer: this.config.nLayer, nHead: this.config.nHead, halfActivations };
  }

  private checkBatch(tokens: Int32Array, B: number, T: number): void {
    if (T > this.config.nPositions)
      throw new Error(`Context ${T} exceeds the model's ${this.config.nPositions} positions (n_positions).`);
    if (tokens.length !== B * T) throw new Error(`${tokens.length} tokens for a batch of ${B}×${T}`);
  }

  /**
   * Mean next-token loss (recorded for backward unless under noGrad). `seed`: the [1] gradient backward will be
   * seeded with, if known now (a training step's); the head then makes its gradients in this pass (see headCrossEntropy).
   * `halfActivations`: keep the matmul inputs backward needs as f16 (see Gpt2Shape).
   */
  loss(tokens: Int32Array, targets: Int32Array, B: number, T: number, seed?: Tensor, halfActivations = false): Tensor {
    this.checkBatch(tokens, B, T);
    return gpt2Loss(this.lookup, this.shape(halfActivations), tokens, targets, B, T, seed);
  }

  /** Full logits [B·T, V]: for sampling and small debug batches only (B·T·V floats). */
  logits(tokens: Int32Array, B: number, T: number): Tensor {
    this.checkBatch(tokens, B, T);
    return noGrad(() => gpt2Logits(this.lookup, this.shape(), tokens, B, T));
  }

  /** Final hidden states [B·T, C]. */
  hidden(tokens: Int32Array, B: number, T: number): Tensor {
    this.checkBatch(tokens, B, T);
    return noGrad(() => gpt2Hidden(this.lookup, this.shape(), tokens, B, T));
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

  dispose(): void {
    for (const p of this.params.values()) p.dispose();
    for (const b of this.banks) b.dispose();
    this.params.clear();
  }
}
