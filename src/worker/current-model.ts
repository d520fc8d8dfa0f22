// Which model Sample and Export use, in one place: the grown model once the Inheritune rounds have ended (also while
// the baseline trains), else the one training now, else the last finished run's, else the saved run's (its snapshot's,
// or the grown model kept beside a baseline's snapshot). Sampling a model that is not on the GPU builds one, kept
// until the source changes.

import type { Gpu } from '../gpu/runtime';
import type { ModelConfig } from '../model/family';
import { Model } from '../model/model';
import type { PipelineState } from '../inheritune/pipeline';
import { readFinal, type RunFolder } from '../train/run-folder';
import { openSnapshot, readSnapshotParams } from '../train/snapshot';
import { EngineError } from './errors';

export interface Weights {
  config: ModelConfig;
  params: Map<string, Float32Array>;
}

type Source = { kind: 'grown' | 'finished'; weights: Weights } | { kind: 'live'; model: Model } | { kind: 'saved' };

export class CurrentModel {
  /** The model under training (null between phases). */
  private live: Model | null = null;
  /** The grown model once the Inheritune rounds have ended. */
  private grown: Weights | null = null;
  /** The last finished run's grown model. */
  private finished: Weights | null = null;
  /** A model built for sampling, and what it was built from. */
  private built: { model: Model; from: Weights | 'saved' } | null = null;

  constructor(
    private readonly folder: () => RunFolder<object> | null,
    /** Called whenever what Sample and Export would use may have changed. */
    private readonly onChange: () => void,
  ) {}

  setLive(model: Model | null): void {
    this.live = model;
    this.onChange();
  }

  setGrown(w: Weights | null): void {
    this.grown = w;
    this.onChange();
  }

  /** A run ended: its grown model (if any) becomes the finished one; nothing trains any more. */
  runEnded(final: Weights | null): void {
    if (final) this.finished = final;
    this.live = null;
    this.onChange();
  }

  /** A new run (or a resumed one) starts: earlier models are stale. */
  reset(): void {
    this.grown = null;
    this.finished = null;
    this.live = null;
    this.dropBuilt();
    this.onChange();
  }

  /** After a lost device: what lived on it is gone. */
  forgetDevice(): void {
    this.live = null;
    this.built = null;
  }

  private source(): Source | null {
    if (this.grown) return { kind: 'grown', weights: this.grown };
    if (this.live) return { kind: 'live', model: this.live };
    if (this.finished) return { kind: 'finished', weights: this.finished };
    return null;
  }

  /** Says which model Sample and Export would use now, or null when there is none. */
  async describe(): Promise<string | null> {
    const s = this.source();
    if (s?.kind === 'grown') return `the grown model (${blocks(s.weights.config.layers)})`;
    if (s?.kind === 'live') return `the model training now (${blocks(s.model.config.layers)})`;
    if (s?.kind === 'finished') return `the last run's grown model (${blocks(s.weights.config.layers)})`;
    return (await this.hasSnapshot()) ? "the saved run's model" : null;
  }

  private async hasSnapshot(): Promise<boolean> {
    const store = this.folder()?.store;
    if (!store) return false;
    const snap = await openSnapshot(store).catch(() => null);
    await snap?.close();
    return !!snap;
  }

  /** The weights to export, or null when there is no model. */
  async weights(): Promise<Weights | null> {
    const s = this.source();
    if (s?.kind === 'grown' || s?.kind === 'finished') return s.weights;
    if (s?.kind === 'live') {
      if (s.model.disposed) throw replaced();
      return { config: s.model.config, params: await s.model.toHost() };
    }
    return this.saved();
  }

  /** The saved run's model: the grown model kept beside a baseline's snapshot, else the snapshot's own. */
  private async saved(): Promise<Weights | null> {
    const store = this.folder()?.store;
    if (!store) return null;
    const snap = await openSnapshot<PipelineState>(store);
    if (!snap) return null;
    try {
      if (snap.meta.extra?.finalSaved) {
        // The baseline has the grown model's architecture.
        const params = await readFinal(store);
        if (params) return { config: snap.meta.config, params };
      }
      return { config: snap.meta.config, params: await readSnapshotParams(snap) };
    } finally {
      await snap.close();
    }
  }

  /** The model to sample from: the one training now, or one built from the weights Export would use. */
  async sampleModel(gpu: Gpu): Promise<Model> {
    const s = this.source();
    if (s?.kind === 'live') return s.model;
    const from = s?.kind === 'grown' || s?.kind === 'finished' ? s.weights : 'saved';
    if (this.built && this.built.from !== from) this.dropBuilt();
    if (!this.built) {
      const w = await this.weights();
      if (!w)
        throw new EngineError(
          'no-model',
          'There is no trained model to sample from yet: start a run (or the demo) first.',
        );
      this.built = { model: await Model.create(gpu, w.config, (n) => w.params.get(n)!), from };
    }
    return this.built.model;
  }

  private dropBuilt(): void {
    this.built?.model.dispose();
    this.built = null;
  }
}

/** The model was replaced while it was read (it grew, or its phase ended). */
export function replaced(): EngineError {
  return new EngineError(
    'model-replaced',
    'The model was replaced (it grew, or its phase ended) while it was read: try again.',
  );
}

const blocks = (n: number) => `${n} block${n === 1 ? '' : 's'}`;
