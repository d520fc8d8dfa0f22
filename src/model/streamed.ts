// A reference model read layer by layer (DESIGN.md; references larger than the GPU): only the tensors of the current
// stage are on the GPU (the embeddings, then one block at a time, then the final norm and head), each read from the
// checkpoint when its stage comes, so a reference whose weights exceed the adapter's memory can still be evaluated and
// analysed. The hidden states of the windows being evaluated are what stays resident between stages.

import type { Gpu } from '../gpu/runtime';
import { fromArray, type Tensor } from '../tensor';
import type { ModelConfig, ModelFamily, ParamSpec } from './family';
import { familyOf } from './registry';

/** What a stage needs: the tensors outside the blocks used by the embedding, one block, or the final norm and head. */
export type Stage = 'embed' | number | 'head';

/** The family, config and a parameter lookup, with the stage's tensors loaded on demand (see LayerSource). */
export class StreamedWeights<C extends ModelConfig = ModelConfig> {
  readonly family: ModelFamily<C>;
  private readonly specs: ParamSpec[];
  private readonly params = new Map<string, Tensor>();
  private stage: Stage | null = null;
  /** Bytes of parameters resident at most (the largest stage). */
  peakParamBytes = 0;

  constructor(
    readonly gpu: Gpu,
    readonly config: C,
    private readonly read: (name: string) => Promise<Float32Array>,
  ) {
    this.family = familyOf(config) as unknown as ModelFamily<C>;
    this.family.validate(config);
    this.specs = this.family.params(config);
  }

  readonly lookup = (name: string): Tensor => {
    const t = this.params.get(name);
    if (!t)
      throw new Error(`${name} is not loaded at stage ${String(this.stage)} of the streamed ${this.family.label}`);
    return t;
  };

  /** Makes the stage's tensors resident (and only those). */
  async prepare(stage: Stage): Promise<void> {
    if (stage === this.stage) return;
    this.release();
    const wanted = this.specs.filter((p) =>
      typeof stage === 'number'
        ? p.block === stage
        : p.block === null &&
          (stage === 'embed' ? p.role === 'embedding' || p.role === 'positions' : p.role !== 'positions'),
    );
    let bytes = 0;
    for (const p of wanted) {
      const data = await this.read(p.name);
      if (data.length !== p.size)
        throw new Error(`Parameter ${p.name}: ${data.length} values for shape [${p.shape.join(', ')}]`);
      this.params.set(p.name, fromArray(this.gpu, data, p.shape));
      bytes += data.byteLength;
    }
    this.peakParamBytes = Math.max(this.peakParamBytes, bytes);
    this.stage = stage;
  }

  /** Frees whatever stage is resident. */
  release(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
    this.stage = null;
  }
}
