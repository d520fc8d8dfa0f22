// A run's folder: every file name a run writes, and their lifecycle. The pipeline keeps its snapshot and, while the
// baseline trains, the grown model there; the CLI writes the model, its config, the log and the report; the browser
// also keeps the run's inputs (the reference, the corpus tokens) and its description and log, so a reloaded page can
// resume it, and removes them when the run is finished or discarded.

import type { TokenizerFiles } from '../io/hf-tokenizer';
import { openSafetensors } from '../io/safetensors';
import { exportCheckpoint } from '../model/checkpoint';
import type { ModelConfig } from '../model/family';
import { familyOf } from '../model/registry';
import type { RunStore, StateStore } from './snapshot';

export const RUN_FILES = {
  /** The training snapshot (snapshot.ts). */
  state: 'state.safetensors',
  /** The grown model, kept while the baseline trains so a resumed run can still export it. */
  final: 'inheritune-final.safetensors',
  /** The browser's copy of the run's inputs and its description, for resuming after a reload. */
  reference: 'reference.safetensors',
  referenceConfig: 'reference-config.json',
  tokens: 'tokens.bin',
  info: 'run.json',
  log: 'log.json',
  /** The CLI's outputs. */
  model: 'model.safetensors',
  config: 'config.json',
  /** The reference's tokenizer files, copied unchanged beside an exported model whose family reads them. */
  tokenizer: 'tokenizer.json',
  tokenizerConfig: 'tokenizer_config.json',
  logLines: 'log.jsonl',
  report: 'report.json',
  lock: 'inheritune.lock',
} as const;

const utf8 = (s: string) => new TextEncoder().encode(s);

export async function readJson<T>(store: StateStore, name: string): Promise<T | null> {
  const src = await store.open(name);
  if (!src) return null;
  try {
    return JSON.parse(new TextDecoder().decode(await src.read(0, src.size))) as T;
  } finally {
    await src.close?.();
  }
}

export async function writeJson(store: StateStore, name: string, value: unknown, indent?: number): Promise<void> {
  await store.write(name, [utf8(JSON.stringify(value, null, indent) + (indent ? '\n' : ''))]);
}

/** Writes a model as a Hugging Face checkpoint: model.safetensors and config.json. */
export async function writeModel(
  store: StateStore,
  config: ModelConfig,
  params: Map<string, Float32Array>,
  tokenizer?: TokenizerFiles,
): Promise<void> {
  const { safetensors, configJson } = exportCheckpoint(config, params);
  await store.write(RUN_FILES.model, safetensors);
  await store.write(RUN_FILES.config, [utf8(configJson)]);
  if (tokenizer) {
    await store.write(RUN_FILES.tokenizer, [utf8(tokenizer.json)]);
    if (tokenizer.config !== undefined) await store.write(RUN_FILES.tokenizerConfig, [utf8(tokenizer.config)]);
  }
}

/** Keeps the grown model beside the snapshot while the baseline trains. */
export async function writeFinal(
  store: StateStore,
  config: ModelConfig,
  params: Map<string, Float32Array>,
): Promise<void> {
  await store.write(RUN_FILES.final, exportCheckpoint(config, params).safetensors);
}

/** The grown model kept by writeFinal, or null when there is none. */
export async function readFinal(store: StateStore | undefined): Promise<Map<string, Float32Array> | null> {
  const src = store ? await store.open(RUN_FILES.final) : null;
  if (!src) return null;
  try {
    const f = await openSafetensors(src, RUN_FILES.final);
    const out = new Map<string, Float32Array>();
    for (const name of f.tensors.keys()) out.set(name, await f.readF32(name));
    return out;
  } finally {
    await src.close?.();
  }
}

/** What the folder records of the tokens: the tokenizer and bytes per id (absent in runs saved as uint16). */
interface TokenFormat {
  tokenizer?: string;
  tokenBytes?: 2 | 4;
}

/** A saved run's inputs, read back for resuming. */
export interface SavedInputs {
  /** The reference's weights and its config.json text (openCheckpoint reads them). */
  reference: Awaited<ReturnType<RunStore['open']>> & object;
  configJson: string;
  tokens: Uint32Array;
  tokenizer: string | null;
}

/**
 * The browser's run folder (one per origin): the run's inputs and description beside the snapshot. `I` is the
 * description the page shows for a saved run.
 */
export class RunFolder<I extends object> {
  constructor(readonly store: RunStore) {}

  /**
   * Starts a new run here: drops an earlier run's snapshot and grown model, then keeps the reference (the user's file,
   * streamed, or parameters made in the page), its config, the corpus tokens and the description.
   */
  async begin(
    reference: { config: ModelConfig; file: Blob | null; params: Map<string, Float32Array> | null },
    tokens: { ids: Uint32Array; tokenizer: string },
    info: I,
    onProgress?: (done: number, total: number) => void,
  ): Promise<void> {
    const { store } = this;
    await store.remove(RUN_FILES.state);
    await store.remove(RUN_FILES.final);
    if (reference.file) await store.writeBlob(RUN_FILES.reference, reference.file, onProgress);
    else if (reference.params)
      await store.write(RUN_FILES.reference, exportCheckpoint(reference.config, reference.params).safetensors);
    const hf = familyOf(reference.config).hf.toHfConfig(reference.config);
    await writeJson(store, RUN_FILES.referenceConfig, hf);
    const ids = tokens.ids;
    await store.write(RUN_FILES.tokens, [new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength)]);
    const format: TokenFormat = { tokenizer: tokens.tokenizer, tokenBytes: 4 };
    await writeJson(store, RUN_FILES.info, { ...info, ...format });
  }

  /** Merges `patch` into the saved description (never creates one: begin() does, with the tokens' format). */
  async describe(patch: Partial<I>): Promise<void> {
    const old = await readJson<I>(this.store, RUN_FILES.info);
    if (old) await writeJson(this.store, RUN_FILES.info, { ...old, ...patch });
  }

  async info(): Promise<(I & TokenFormat) | null> {
    return readJson<I & TokenFormat>(this.store, RUN_FILES.info);
  }

  /** The description of a run that can be resumed (a description and a snapshot), or null. */
  async saved(): Promise<I | null> {
    try {
      const info = await this.info();
      const state = await this.store.open(RUN_FILES.state);
      await state?.close?.();
      return info && state ? info : null;
    } catch {
      return null;
    }
  }

  async saveLog(log: readonly object[]): Promise<void> {
    await writeJson(this.store, RUN_FILES.log, log);
  }

  /** The log the last run saved (empty if none, or if it cannot be read). */
  async readLog<E>(): Promise<E[]> {
    const log = await readJson<E[]>(this.store, RUN_FILES.log).catch(() => null);
    return Array.isArray(log) ? log : [];
  }

  /** The saved run's inputs, or null when any is missing. */
  async inputs(): Promise<SavedInputs | null> {
    const info = await this.info();
    const reference = await this.store.open(RUN_FILES.reference);
    const tokenSrc = await this.store.open(RUN_FILES.tokens);
    const config = await this.store.open(RUN_FILES.referenceConfig);
    try {
      if (!info || !reference || !tokenSrc || !config) {
        await reference?.close?.();
        return null;
      }
      const configJson = new TextDecoder().decode(await config.read(0, config.size));
      const bytes = (await tokenSrc.read(0, tokenSrc.size)).slice();
      // Runs saved before streams were uint32 kept uint16 ids.
      const tokens =
        (info.tokenBytes ?? 2) === 2 ? Uint32Array.from(new Uint16Array(bytes.buffer)) : new Uint32Array(bytes.buffer);
      return { reference, configJson, tokens, tokenizer: info.tokenizer ?? null };
    } finally {
      await tokenSrc?.close?.();
      await config?.close?.();
    }
  }

  /** A finished run is not offered for resuming: its description goes (the snapshot stays, for sampling and export). */
  async finish(): Promise<void> {
    await this.store.remove(RUN_FILES.info);
  }

  /** Removes everything a run keeps here. */
  async discard(): Promise<void> {
    for (const name of [
      RUN_FILES.reference,
      RUN_FILES.referenceConfig,
      RUN_FILES.tokens,
      RUN_FILES.info,
      RUN_FILES.log,
      RUN_FILES.state,
      RUN_FILES.final,
    ])
      await this.store.remove(name);
  }
}
