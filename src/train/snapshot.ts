// Training snapshots: the full state of a run at an update boundary (parameters, optimizer moments, trainer position
// with the batch sampler's RNG, run settings, and whatever the caller adds, e.g. the Inheritune round) in one
// safetensors file, so resuming replays exactly the updates an uninterrupted run would have made. Tensors are stored
// per parameter (`param:`, `m:`, `v:` + canonical name), not per bank, so a snapshot resumes on an adapter with a
// different binding limit; the model's config records its family. Storage is behind StateStore: a directory in Node,
// OPFS in the browser. This module alone knows the file's name and key format.

import type { ModelConfig } from '../model/family';
import { Model } from '../model/model';
import { readSlots } from '../model/params';
import { familyOf } from '../model/registry';
import { openSafetensors, type ByteSource, type SafetensorsFile } from '../io/safetensors';
import { writeSafetensors } from '../io/safetensors-write';
import type { Gpu } from '../gpu/runtime';
import type { Peak } from './peak';
import { RUN_FILES } from './run-folder';
import { Trainer, type TrainerPosition, type TrainSettings } from './trainer';

export const SNAPSHOT_FILE = RUN_FILES.state;
const FORMAT = 'inheritune-state';
/** 2: the config records its family (version 1 predates families; its configs are read as the GPT-2 family's). */
const VERSION = 2;

export interface StateStore {
  /** Replaces `name` atomically with the concatenated parts. */
  write(name: string, parts: Uint8Array[]): Promise<void>;
  /** The stored bytes, or null when there is nothing under `name`. */
  open(name: string): Promise<(ByteSource & { close?(): Promise<void> }) | null>;
}

/** A store that also keeps a run's inputs (the reference, the tokens), so a browser run resumes after a reload. */
export interface RunStore extends StateStore {
  /** Replaces `name` with a Blob's bytes, streamed in pieces (a reference can be gigabytes). */
  writeBlob(name: string, blob: Blob, onProgress?: (done: number, total: number) => void): Promise<void>;
  remove(name: string): Promise<void>;
}

export interface SnapshotMeta<X = unknown> {
  format: typeof FORMAT;
  version: number;
  config: ModelConfig;
  settings: TrainSettings;
  position: TrainerPosition;
  extra: X;
}

/**
 * Serialises the trainer's state (call between runs: nothing in flight). `onProgress` hears 0 of 2 at the start, 1
 * once the GPU has handed the state back, and 2 once the store has it (a GPT-2 124M snapshot is about 1.5 GB).
 */
export async function saveSnapshot<X>(
  store: StateStore,
  trainer: Trainer,
  extra: X,
  onProgress?: (done: number, total: number) => void,
): Promise<void> {
  const { model, optimizer } = trainer;
  onProgress?.(0, 2);
  const tensors: { name: string; shape: number[]; data: Float32Array }[] = [];
  const [param, m, v] = await Promise.all(
    [model.banks, optimizer.m, optimizer.v].map((banks) => readSlots(model.layout, banks)),
  );
  const roles = [
    ['param', param!],
    ['m', m!],
    ['v', v!],
  ] as const;
  for (const slot of model.layout.slots) {
    for (const [role, host] of roles)
      tensors.push({ name: `${role}:${slot.name}`, shape: slot.shape, data: host.get(slot.name)! });
  }
  const meta: SnapshotMeta<X> = {
    format: FORMAT,
    version: VERSION,
    config: model.config,
    settings: trainer.settings,
    position: trainer.savedPosition(),
    extra,
  };
  onProgress?.(1, 2);
  await store.write(SNAPSHOT_FILE, writeSafetensors(tensors, { inheritune: JSON.stringify(meta) }));
  onProgress?.(2, 2);
}

export interface OpenedSnapshot<X> {
  meta: SnapshotMeta<X>;
  file: SafetensorsFile;
  close(): Promise<void>;
}

/** Opens the stored snapshot (null when none); checks it is one of ours before anything is loaded. */
export async function openSnapshot<X>(store: StateStore): Promise<OpenedSnapshot<X> | null> {
  const src = await store.open(SNAPSHOT_FILE);
  if (!src) return null;
  const close = async () => src.close?.();
  try {
    const file = await openSafetensors(src, SNAPSHOT_FILE);
    const raw = file.metadata.inheritune;
    if (!raw)
      throw new Error(
        `${SNAPSHOT_FILE} is a safetensors file but not an Inheritune training snapshot (no "inheritune" metadata)`,
      );
    let meta: SnapshotMeta<X>;
    try {
      meta = JSON.parse(raw) as SnapshotMeta<X>;
    } catch {
      throw new Error(`${SNAPSHOT_FILE}: its snapshot description is not valid JSON`);
    }
    if (meta.format !== FORMAT)
      throw new Error(`${SNAPSHOT_FILE}: unknown snapshot format ${JSON.stringify(meta.format)}`);
    if (meta.version === 1) {
      const legacy = familyOf('gpt2').fromLegacyConfig;
      if (!legacy) throw new Error(`${SNAPSHOT_FILE}: snapshot version 1 can no longer be read`);
      meta = { ...meta, version: VERSION, config: legacy(meta.config as unknown as Record<string, unknown>) };
    } else if (meta.version !== VERSION)
      throw new Error(`${SNAPSHOT_FILE}: snapshot version ${meta.version}; this build reads versions 1 and ${VERSION}`);
    return { meta, file, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Rebuilds the model and trainer from a snapshot, positioned to continue with its next update. */
export async function restoreTrainer<X>(
  gpu: Gpu,
  snap: OpenedSnapshot<X>,
  data: { train: Uint32Array; val: Uint32Array },
  peak: Peak | null,
  onProgress?: (done: number, total: number) => void,
): Promise<Trainer> {
  const { meta, file } = snap;
  const need = (name: string) => {
    if (!file.tensors.has(name)) throw new Error(`${SNAPSHOT_FILE} is incomplete: it lacks ${name}`);
    return file.readF32(name);
  };
  const model = await Model.create(
    gpu,
    meta.config,
    (name) => need(`param:${name}`),
    (d, t) => onProgress?.(d, 2 * t),
  );
  let trainer: Trainer | null = null;
  try {
    trainer = new Trainer(model, data, meta.settings, peak);
    const opt = trainer.optimizer;
    let done = 0;
    for (const slot of model.layout.slots) {
      for (const [prefix, banks] of [
        ['m', opt.m],
        ['v', opt.v],
      ] as const) {
        const data = await need(`${prefix}:${slot.name}`);
        if (data.length !== slot.size)
          throw new Error(
            `${SNAPSHOT_FILE} is damaged: ${prefix}:${slot.name} holds ${data.length} values, its parameter ${slot.size}`,
          );
        gpu.upload(banks[slot.bank]!.range(slot.offset, slot.size), data);
      }
      onProgress?.(model.layout.slots.length + ++done, 2 * model.layout.slots.length);
    }
    trainer.restore(meta.position);
    return trainer;
  } catch (e) {
    trainer?.dispose();
    model.dispose();
    throw e;
  }
}

/** The snapshot model's parameters, by canonical name (for sampling or exporting a saved run without training it). */
export async function readSnapshotParams(snap: OpenedSnapshot<unknown>): Promise<Map<string, Float32Array>> {
  const params = new Map<string, Float32Array>();
  for (const p of familyOf(snap.meta.config).params(snap.meta.config))
    params.set(p.name, await snap.file.readF32(`param:${p.name}`));
  return params;
}
