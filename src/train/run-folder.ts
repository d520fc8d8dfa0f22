// A run's folder: every file name a run writes, and their lifecycle. The pipeline keeps its snapshot and, while the
// baseline trains, the grown model there; the CLI writes the model, its config, the log and the report; the browser
// also keeps the run's inputs (the reference, the corpus tokens) and its description and log, so a reloaded page can
// resume it, and removes them when the run is finished or discarded.

import type { TokenizerFiles } from '../io/hf-tokenizer';
import { type ByteSource, openSafetensors, type SafetensorsFile } from '../io/safetensors';
import { openSharded, shardNames } from '../io/sharded';
import { type ExportDtype, exportCheckpoint } from '../model/checkpoint';
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
  /** A sharded reference: its index (naming the shards kept as reference-shard-<i>.safetensors). */
  referenceIndex: 'reference.safetensors.index.json',
  referenceConfig: 'reference-config.json',
  referenceTokenizer: 'reference-tokenizer.json',
  referenceTokenizerConfig: 'reference-tokenizer_config.json',
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
  /** The comparison table (report.json's `comparison`) as CSV, when the run trained baselines. */
  comparison: 'comparison.csv',
  lock: 'inheritune.lock',
} as const;

const utf8 = (s: string) => new TextEncoder().encode(s);

/** A sharded checkpoint as the page has it: the index's text and the shard files by name. */
export interface Shards {
  index: string;
  files: Map<string, Blob>;
}

async function readText(store: StateStore, name: string): Promise<string | null> {
  const src = await store.open(name);
  if (!src) return null;
  try {
    return new TextDecoder().decode(await src.read(0, src.size));
  } finally {
    await src.close?.();
  }
}

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
  dtype: ExportDtype = 'F32',
): Promise<void> {
  const { safetensors, configJson } = exportCheckpoint(config, params, { dtype });
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
  /** The reference's weights (one file, or its opened shards) and its config.json text (openCheckpoint reads them). */
  reference: ByteSource | SafetensorsFile;
  configJson: string;
  tokenizerFiles?: TokenizerFiles;
  /** Closes what reading the reference opened. */
  close(): Promise<void>;
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
    reference: {
      config: ModelConfig;
      file: Blob | null;
      shards: Shards | null;
      tokenizerFiles?: TokenizerFiles;
      params: Map<string, Float32Array> | null;
    },
    tokens: { ids: Uint32Array; tokenizer: string },
    info: I,
    onProgress?: (done: number, total: number) => void,
  ): Promise<void> {
    const { store } = this;
    await store.remove(RUN_FILES.state);
    await store.remove(RUN_FILES.final);
    // A reference restored from this folder (no file, shards or parameters of its own) is already kept here.
    if (reference.file || reference.shards || reference.params) {
      await this.removeReference();
      if (reference.file) await store.writeBlob(RUN_FILES.reference, reference.file, onProgress);
      else if (reference.shards) await this.keepShards(reference.shards, onProgress);
      else if (reference.params)
        await store.write(RUN_FILES.reference, exportCheckpoint(reference.config, reference.params).safetensors);
    }
    for (const [name, text] of [
      [RUN_FILES.referenceTokenizer, reference.tokenizerFiles?.json],
      [RUN_FILES.referenceTokenizerConfig, reference.tokenizerFiles?.config],
    ] as const) {
      if (text === undefined) await store.remove(name);
      else await store.write(name, [utf8(text)]);
    }
    const hf = familyOf(reference.config).hf.toHfConfig(reference.config);
    await writeJson(store, RUN_FILES.referenceConfig, hf);
    const ids = tokens.ids;
    await store.write(RUN_FILES.tokens, [new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength)]);
    const format: TokenFormat = { tokenizer: tokens.tokenizer, tokenBytes: 4 };
    await writeJson(store, RUN_FILES.info, { ...info, ...format });
  }

  /** Removes the kept reference: one file, or an index and the shards it names. */
  private async removeReference(): Promise<void> {
    const index = await readText(this.store, RUN_FILES.referenceIndex).catch(() => null);
    if (index !== null) for (const shard of shardNames(index)) await this.store.remove(shard);
    await this.store.remove(RUN_FILES.referenceIndex);
    await this.store.remove(RUN_FILES.reference);
  }

  /** A sharded reference's shards, renamed reference-shard-<i>.safetensors, and its index rewritten to those names. */
  private async keepShards(shards: Shards, onProgress?: (done: number, total: number) => void): Promise<void> {
    const names = [...shards.files.keys()].sort();
    const renamed = new Map(names.map((n, i) => [n, `reference-shard-${i}.safetensors`]));
    const total = names.reduce((s, n) => s + shards.files.get(n)!.size, 0);
    let before = 0;
    for (const n of names) {
      const blob = shards.files.get(n)!;
      await this.store.writeBlob(renamed.get(n)!, blob, (d) => onProgress?.(before + d, total));
      before += blob.size;
    }
    const index = JSON.parse(shards.index) as { weight_map: Record<string, string> };
    const weightMap = Object.fromEntries(Object.entries(index.weight_map).map(([t, n]) => [t, renamed.get(n) ?? n]));
    await writeJson(this.store, RUN_FILES.referenceIndex, { ...index, weight_map: weightMap });
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

  /** The saved run's inputs, or null when any is missing. The reference stays open for reading (close() closes it). */
  async inputs(): Promise<SavedInputs | null> {
    const info = await this.info();
    const opened: { close?(): Promise<void> }[] = [];
    const close = async () => void (await Promise.all(opened.map((o) => o.close?.())));
    const open = async (name: string) => {
      const src = await this.store.open(name);
      if (src) opened.push(src);
      return src;
    };
    try {
      const configJson = await readText(this.store, RUN_FILES.referenceConfig);
      const tokenSrc = await this.store.open(RUN_FILES.tokens);
      let bytes: Uint8Array | null = null;
      try {
        if (tokenSrc) bytes = (await tokenSrc.read(0, tokenSrc.size)).slice();
      } finally {
        await tokenSrc?.close?.();
      }
      let reference: ByteSource | SafetensorsFile | null = await open(RUN_FILES.reference);
      if (!reference) {
        const index = await readText(this.store, RUN_FILES.referenceIndex);
        if (index !== null) reference = await openSharded(index, open);
      }
      if (!info || !reference || !bytes || configJson === null) {
        await close();
        return null;
      }
      // Runs saved before streams were uint32 kept uint16 ids.
      const tokens =
        (info.tokenBytes ?? 2) === 2 ? Uint32Array.from(new Uint16Array(bytes.buffer)) : new Uint32Array(bytes.buffer);
      const json = await readText(this.store, RUN_FILES.referenceTokenizer);
      const tokConfig = await readText(this.store, RUN_FILES.referenceTokenizerConfig);
      const tokenizerFiles = json === null ? undefined : { json, ...(tokConfig === null ? {} : { config: tokConfig }) };
      return { reference, configJson, tokens, tokenizer: info.tokenizer ?? null, tokenizerFiles, close };
    } catch (e) {
      await close();
      throw e;
    }
  }

  /** A finished run is not offered for resuming: its description goes (the snapshot stays, for sampling and export). */
  async finish(): Promise<void> {
    await this.store.remove(RUN_FILES.info);
  }

  /** Removes everything a run keeps here. */
  async discard(): Promise<void> {
    await this.removeReference();
    for (const name of [
      RUN_FILES.referenceConfig,
      RUN_FILES.referenceTokenizer,
      RUN_FILES.referenceTokenizerConfig,
      RUN_FILES.tokens,
      RUN_FILES.info,
      RUN_FILES.log,
      RUN_FILES.state,
      RUN_FILES.final,
    ])
      await this.store.remove(name);
  }
}
