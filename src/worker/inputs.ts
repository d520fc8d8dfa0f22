// The engine's inputs: the reference (a dropped checkpoint with its optional config.json, the demo's, or a saved
// run's) and the corpus, tokenized with the reference's tokenizer (GPT-2's BPE, the demo's, until a reference is
// loaded; a corpus is re-encoded when a reference with another tokenizer arrives).

import { decodeText, splitTokens } from '../io/corpus';
import type { TokenizerFiles } from '../io/hf-tokenizer';
import { blobSource } from '../io/safetensors';
import { INDEX_FILE, openSharded } from '../io/sharded';
import { gpt2Bpe, type Tokenizer } from '../io/tokenizer';
import type { ReadParam } from '../inheritune/inherit';
import { CheckpointError, openCheckpoint, tokenizerOf } from '../model/checkpoint';
import type { ModelConfig, ModelFamily } from '../model/family';
import { paramCount } from '../model/params';
import type { SavedInputs, Shards } from '../train/run-folder';
import type { Emitter } from './emitter';
import { EngineError } from './errors';
import type { CorpusInfo, ReferenceInfo } from './protocol';

/** Refuse corpora whose text and tokens would not fit in memory comfortably. */
const MAX_CORPUS_BYTES = 1 << 30;
/** The tokenizer of a corpus loaded before any reference: the demo reference's. */
const DEFAULT_TOKENIZER = gpt2Bpe;

export interface Reference {
  config: ModelConfig;
  read: ReadParam;
  info: ReferenceInfo;
  tokenizer: Tokenizer;
  /** The user's file (kept to copy into the run folder); null for the demo's or a saved run's reference. */
  file: Blob | null;
  /** The user's sharded checkpoint (kept to copy into the run folder). */
  shards: Shards | null;
  /** The reference folder's tokenizer files (a Llama-family vocabulary), kept with the run and beside exports. */
  tokenizerFiles?: TokenizerFiles;
  /** The config.json it was opened with (to re-open the same weights when only a tokenizer file is dropped). */
  configJson?: string;
  /** The demo reference's parameters (it has no file). */
  params: Map<string, Float32Array> | null;
}

export interface Corpus {
  /** The text, to re-encode for another tokenizer; null for a saved run's corpus (its tokens only). */
  text: string | null;
  tokenizer: string;
  tokens: Uint32Array;
  train: Uint32Array;
  val: Uint32Array;
  info: CorpusInfo;
}

/** What the page is told about a reference. */
export function referenceInfo(
  config: ModelConfig,
  label: string,
  origin: ReferenceInfo['origin'],
  file: { dtype: string; bytes: number } | null,
  family: ModelFamily,
  tokenizer: Tokenizer,
): ReferenceInfo {
  const params = paramCount(config);
  const specs = family.params(config);
  const blockParams = specs.reduce((n, p) => n + (p.block === 0 ? p.size : 0), 0);
  const largest = specs.reduce((a, p) => (p.size > a.size ? p : a), specs[0]!);
  return {
    label,
    family: family.label,
    architecture: family.architecture(config),
    layers: config.layers,
    width: config.width,
    heads: config.heads,
    kvHeads: family.kvHeads(config),
    headDim: config.headDim,
    tokenizer: tokenizer.id,
    blockParams,
    otherParams: params - config.layers * blockParams,
    savedPerToken: family.savedFloatsPerToken(config),
    largestTensor: { name: largest.name, bytes: largest.size * 4 },
    positions: config.positions,
    vocab: config.vocabSize,
    params,
    widestActivation: family.widestActivation(config),
    dtype: file?.dtype ?? 'F32',
    bytes: file?.bytes ?? 4 * params,
    origin,
  };
}

export class Inputs {
  ref: Reference | null = null;
  corpus: Corpus | null = null;
  /** JSON files dropped before (or after) the weights they belong to. */
  private pending: { config: string | null; tokenizer: string | null; tokenizerConfig: string | null } = {
    config: null,
    tokenizer: null,
    tokenizerConfig: null,
  };

  constructor(
    private readonly out: Emitter,
    private readonly demoCorpus: () => Promise<string>,
  ) {}

  /** Both inputs, or an error saying which to drop. */
  need(): { ref: Reference; corpus: Corpus } {
    if (!this.ref)
      throw new EngineError('no-input', 'Drop a reference checkpoint (model.safetensors) first, or start the demo.');
    if (!this.corpus) throw new EngineError('no-input', 'Drop a text corpus (.txt) first, or start the demo.');
    return { ref: this.ref, corpus: this.corpus };
  }

  /**
   * A checkpoint's files, all at once (a folder) or a few at a time: model.safetensors, or
   * model.safetensors.index.json with its shards; config.json; tokenizer.json and tokenizer_config.json. Files a
   * checkpoint folder also holds (generation_config.json, README.md, …) are ignored; the JSON files are kept until the
   * weights they belong to arrive.
   */
  async loadCheckpoint(files: File[]): Promise<void> {
    if (!files.length) throw new EngineError('bad-file', 'No file was given.');
    const picked = pickCheckpointFiles(files);
    const text = async (f: File | undefined, limit: number) => {
      if (!f) return undefined;
      if (f.size > limit)
        throw new EngineError(
          'bad-file',
          `${f.name} is ${f.size.toLocaleString('en-US')} bytes: too large for a ${f.name}.`,
        );
      return f.text();
    };
    const configJson = await text(picked.config, 1 << 20);
    const tokenizerJson = await text(picked.tokenizer, 64 << 20);
    const tokenizerConfig = await text(picked.tokenizerConfig, 4 << 20);
    const indexJson = await text(picked.index, 64 << 20);
    if (configJson !== undefined) this.pending.config = configJson;
    if (tokenizerJson !== undefined) this.pending.tokenizer = tokenizerJson;
    if (tokenizerConfig !== undefined) this.pending.tokenizerConfig = tokenizerConfig;
    const tokenizerFiles = (): TokenizerFiles | undefined =>
      this.pending.tokenizer === null
        ? undefined
        : {
            json: this.pending.tokenizer,
            ...(this.pending.tokenizerConfig === null ? {} : { config: this.pending.tokenizerConfig }),
          };

    // The weights: given now, or the reference loaded before (a config.json or tokenizer dropped after it).
    const file =
      picked.weights[0] ?? (indexJson === undefined && this.ref?.file instanceof File ? this.ref.file : null);
    const shards: Shards | null =
      indexJson !== undefined
        ? { index: indexJson, files: new Map(picked.weights.map((f) => [f.name, f])) }
        : !file && this.ref?.shards
          ? this.ref.shards
          : null;
    if (!file && !shards) {
      const read = [picked.config, picked.tokenizer, picked.tokenizerConfig].filter((f) => f).map((f) => f!.name);
      this.out.emit({
        type: 'progress',
        task: `${read.join(', ') || 'nothing'} read: now drop the model.safetensors it belongs to`,
        done: 1,
        total: 1,
      });
      return;
    }
    const label = shards ? (picked.index?.name ?? INDEX_FILE) : file!.name;
    // No new weights: the loaded reference is re-opened with what was dropped now.
    const reopen = !picked.weights.length && indexJson === undefined;
    this.out.emit({ type: 'progress', task: 'reading the checkpoint', done: 0, total: 1 });
    let ckpt: Awaited<ReturnType<typeof openCheckpoint>>;
    let tokenizer: Tokenizer;
    try {
      const from = shards
        ? await openSharded(shards.index, async (name) => {
            const f = shards.files.get(name);
            return f ? blobSource(f) : null;
          })
        : blobSource(file!);
      ckpt = await openCheckpoint(from, {
        configJson: this.pending.config ?? (reopen ? this.ref?.configJson : undefined),
        label,
        // Tokenizer files given since the last load, else (the same weights re-opened) the reference's own.
        tokenizer: tokenizerFiles() ?? (reopen ? this.ref?.tokenizerFiles : undefined),
      });
      tokenizer = tokenizerOf(ckpt.config, ckpt.tokenizerFiles);
    } catch (e) {
      // A config.json that does not fit this model is forgotten, so the next model dropped is not judged by it.
      if (e instanceof CheckpointError && e.inConfig) this.pending.config = null;
      const message = (e as Error).message;
      const named = message.startsWith(label) ? message : `${label}: ${message}`;
      throw Object.assign(e as Error, { message: named });
    } finally {
      this.out.end('reading the checkpoint');
    }
    const dtypes = [...new Set([...ckpt.file.tensors.values()].map((t) => t.dtype))].join('/');
    const bytes = shards ? [...shards.files.values()].reduce((n, f) => n + f.size, 0) : file!.size;
    const info = referenceInfo(ckpt.config, label, 'file', { dtype: dtypes, bytes }, ckpt.family, tokenizer);
    this.ref = {
      config: ckpt.config,
      read: (n) => ckpt.read(n),
      info,
      tokenizer,
      file: shards ? null : file,
      shards,
      ...(ckpt.tokenizerFiles ? { tokenizerFiles: ckpt.tokenizerFiles } : {}),
      ...(this.pending.config !== null || reopen ? { configJson: this.pending.config ?? this.ref?.configJson } : {}),
      params: null,
    };
    this.out.emit({ type: 'reference', info });
    // Dropped JSON files belong to the weights they came with: the next checkpoint needs its own.
    this.pending = { config: null, tokenizer: null, tokenizerConfig: null };
    await this.encodeFor(tokenizer);
  }

  /** A .txt corpus, or the bundled demo corpus (null). */
  async loadCorpus(file: File | null): Promise<void> {
    let text: string;
    let label: string;
    if (file) {
      label = file.name;
      if (file.size > MAX_CORPUS_BYTES)
        throw new EngineError(
          'bad-file',
          `${file.name} is ${(file.size / 2 ** 30).toFixed(1)} GiB; corpora up to 1 GiB are supported in the browser (use the CLI for more).`,
        );
      try {
        text = decodeText(new Uint8Array(await file.arrayBuffer()), file.name);
      } catch (e) {
        throw new EngineError('bad-file', (e as Error).message);
      }
    } else {
      label = 'tinyshakespeare.txt (built-in demo corpus)';
      text = await this.demoCorpus();
    }
    this.corpus = await this.encode(text, label, this.ref?.tokenizer ?? DEFAULT_TOKENIZER);
    this.out.emit({ type: 'corpus', info: this.corpus.info });
  }

  /** The corpus in `tokenizer`'s ids: re-encoded (and announced) when it was encoded with another. */
  async encodeFor(tokenizer: Tokenizer): Promise<void> {
    const c = this.corpus;
    if (!c || c.tokenizer === tokenizer.id) return;
    if (c.text === null)
      throw new EngineError(
        'no-input',
        `The corpus was saved as ${c.tokenizer} tokens, which this reference cannot read: drop the corpus text again.`,
      );
    this.corpus = await this.encode(c.text, c.info.label, tokenizer);
    this.out.emit({ type: 'corpus', info: this.corpus.info });
  }

  private async encode(text: string, label: string, tokenizer: Tokenizer): Promise<Corpus> {
    const tokens = await this.out.tracked('tokenizing', (p) => tokenizer.encode(text, p));
    if (tokens.length < 100)
      throw new EngineError(
        'bad-file',
        `${label} has only ${tokens.length} tokens: too short to train and validate on (its last 10% is the validation split).`,
      );
    const { train, val } = splitTokens(tokens);
    const info = {
      label,
      tokenizer: tokenizer.id,
      chars: text.length,
      tokens: tokens.length,
      train: train.length,
      val: val.length,
    };
    return { text, tokenizer: tokenizer.id, tokens, train, val, info };
  }

  /** The demo's reference, trained in the page. */
  setDemoReference(config: ModelConfig, params: Map<string, Float32Array>, info: ReferenceInfo): void {
    this.ref = {
      config,
      read: async (n) => params.get(n)!,
      info,
      tokenizer: tokenizerOf(config),
      file: null,
      shards: null,
      params,
    };
    this.out.emit({ type: 'reference', info });
  }

  /** A saved run's reference and tokens (after a reload), as the run folder kept them. */
  async restore(saved: SavedInputs, refInfo: ReferenceInfo, corpusLabel: string): Promise<void> {
    const ckpt = await openCheckpoint(saved.reference, {
      configJson: saved.configJson,
      label: refInfo.label,
      ...(saved.tokenizerFiles ? { tokenizer: saved.tokenizerFiles } : {}),
    });
    const tokenizer = tokenizerOf(ckpt.config, ckpt.tokenizerFiles);
    // Recomputed from the checkpoint (a run saved by an older build lacks some facts); what the page showed is kept.
    const info = {
      ...referenceInfo(ckpt.config, refInfo.label, refInfo.origin, refInfo, ckpt.family, tokenizer),
      dtype: refInfo.dtype,
      bytes: refInfo.bytes,
    };
    this.ref = {
      config: ckpt.config,
      read: (n) => ckpt.read(n),
      info,
      tokenizer,
      file: null,
      shards: null,
      ...(ckpt.tokenizerFiles ? { tokenizerFiles: ckpt.tokenizerFiles } : {}),
      params: null,
    };
    const { train, val } = splitTokens(saved.tokens);
    const corpusInfo = {
      label: corpusLabel,
      tokenizer: saved.tokenizer ?? tokenizer.id,
      chars: 0,
      tokens: saved.tokens.length,
      train: train.length,
      val: val.length,
    };
    this.corpus = { text: null, tokenizer: corpusInfo.tokenizer, tokens: saved.tokens, train, val, info: corpusInfo };
    this.out.emit({ type: 'reference', info });
    this.out.emit({ type: 'corpus', info: corpusInfo });
  }
}

/** Checkpoint-folder files a reference does not need: not an error to drop them with the rest. */
const IGNORED =
  /^(generation_config|special_tokens_map|added_tokens|vocab|preprocessor_config|chat_template)\.json$|\.(md|txt|model|gitattributes)$|^(merges\.txt|LICENSE.*|\.gitattributes)$/i;
/** Weights in formats we do not read. */
const OTHER_WEIGHTS = /\.(bin|pt|pth|ckpt|gguf|h5|msgpack|onnx)$/i;

/** Sorts a drop into the checkpoint's parts, refusing what cannot be one checkpoint. */
export function pickCheckpointFiles(all: File[]): {
  weights: File[];
  index?: File;
  config?: File;
  tokenizer?: File;
  tokenizerConfig?: File;
} {
  const lower = (f: File) => f.name.toLowerCase();
  // A picked folder lists its subfolders' files too (Llama 3's original/params.json): the checkpoint is its top level.
  const files = all.filter((f) => (f.webkitRelativePath ?? '').split('/').length <= 2);
  const bad = files.find((f) => OTHER_WEIGHTS.test(f.name));
  if (bad)
    throw new EngineError(
      'bad-file',
      `${bad.name} is not a checkpoint Inheritune Studio reads: drop a Hugging Face model.safetensors (or a sharded checkpoint's model.safetensors.index.json and shards) with its config.json. PyTorch .bin/.pt files are not read; convert them with safetensors first.`,
    );
  const index = files.filter((f) => lower(f).endsWith('.safetensors.index.json'));
  const tokenizer = files.find((f) => lower(f) === 'tokenizer.json');
  const tokenizerConfig = files.find((f) => lower(f) === 'tokenizer_config.json');
  const configs = files.filter(
    (f) =>
      lower(f).endsWith('.json') &&
      !index.includes(f) &&
      f !== tokenizer &&
      f !== tokenizerConfig &&
      !IGNORED.test(f.name),
  );
  const weights = files.filter((f) => lower(f).endsWith('.safetensors'));
  const names = files.map((f) => f.name).join(', ');
  if (configs.length > 1)
    throw new EngineError('bad-file', `Drop one config.json (got ${configs.map((f) => f.name).join(', ')}).`);
  if (index.length > 1)
    throw new EngineError(
      'bad-file',
      `Drop one model.safetensors.index.json (got ${index.map((f) => f.name).join(', ')}).`,
    );
  if (!index.length && weights.length > 1)
    throw new EngineError(
      'bad-file',
      `Drop one model.safetensors, or a sharded checkpoint's model.safetensors.index.json with all its shards (got ${names}).`,
    );
  if (index.length && !weights.length)
    throw new EngineError(
      'bad-file',
      `${index[0]!.name} came without its shards: drop it together with every .safetensors file it names.`,
    );
  const unknown = files.find(
    (f) =>
      !weights.includes(f) &&
      !index.includes(f) &&
      !configs.includes(f) &&
      f !== tokenizer &&
      f !== tokenizerConfig &&
      !IGNORED.test(f.name),
  );
  if (unknown)
    throw new EngineError(
      'bad-file',
      `${unknown.name} is not part of a checkpoint: drop model.safetensors (or its index and shards), config.json and tokenizer.json.`,
    );
  return {
    weights,
    ...(index[0] ? { index: index[0] } : {}),
    ...(configs[0] ? { config: configs[0] } : {}),
    ...(tokenizer ? { tokenizer } : {}),
    ...(tokenizerConfig ? { tokenizerConfig } : {}),
  };
}
