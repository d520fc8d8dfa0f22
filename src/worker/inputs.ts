// The engine's inputs: the reference (a dropped checkpoint with its optional config.json, the demo's, or a saved
// run's) and the corpus, tokenized with the reference's tokenizer (GPT-2's BPE, the demo's, until a reference is
// loaded; a corpus is re-encoded when a reference with another tokenizer arrives).

import { decodeText, splitTokens } from '../io/corpus';
import { blobSource, type ByteSource } from '../io/safetensors';
import { gpt2Bpe, type Tokenizer } from '../io/tokenizer';
import type { ReadParam } from '../inheritune/inherit';
import { CheckpointError, openCheckpoint, tokenizerOf } from '../model/checkpoint';
import type { ModelConfig } from '../model/family';
import { paramCount } from '../model/params';
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
  family: { label: string; widestActivation(c: ModelConfig): number },
): ReferenceInfo {
  const params = paramCount(config);
  return {
    label,
    family: family.label,
    layers: config.layers,
    width: config.width,
    heads: config.heads,
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
  /** A config.json dropped on its own, waiting for its model.safetensors. */
  private configJson: string | null = null;

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

  /** A model.safetensors, an optional config.json, or both at once. */
  async loadCheckpoint(files: File[]): Promise<void> {
    const json = files.filter((f) => /\.json$/i.test(f.name));
    const weights = files.filter((f) => !/\.json$/i.test(f.name));
    if (!files.length) throw new EngineError('bad-file', 'No file was given.');
    if (json.length > 1 || weights.length > 1)
      throw new EngineError(
        'bad-file',
        `Drop one model.safetensors and at most one config.json (got ${files.map((f) => f.name).join(', ')}).`,
      );
    const other = weights.find((f) => !/\.safetensors$/i.test(f.name));
    if (other)
      throw new EngineError(
        'bad-file',
        `${other.name} is not a checkpoint: drop a Hugging Face model.safetensors (and optionally its config.json). PyTorch .bin/.pt files are not read; convert them with safetensors first.`,
      );
    if (json[0]) {
      if (json[0].size > 1 << 20)
        throw new EngineError('bad-file', `${json[0].name} is ${json[0].size} bytes: too large for a config.json.`);
      this.configJson = await json[0].text();
    }
    const file = weights[0] ?? (this.ref?.file instanceof File ? this.ref.file : null);
    if (!file) {
      this.out.emit({
        type: 'progress',
        task: `${json[0]!.name} read: now drop the model.safetensors it belongs to`,
        done: 1,
        total: 1,
      });
      return;
    }
    this.out.emit({ type: 'progress', task: 'reading the checkpoint', done: 0, total: 1 });
    let ckpt: Awaited<ReturnType<typeof openCheckpoint>>;
    try {
      ckpt = await openCheckpoint(blobSource(file), { configJson: this.configJson ?? undefined, label: file.name });
    } catch (e) {
      // A config.json that does not fit this model is forgotten, so the next model dropped is not judged by it.
      if (e instanceof CheckpointError && e.inConfig) this.configJson = null;
      const message = (e as Error).message;
      const named = message.startsWith(file.name) ? message : `${file.name}: ${message}`;
      throw Object.assign(e as Error, { message: named });
    } finally {
      this.out.end('reading the checkpoint');
    }
    const tokenizer = tokenizerOf(ckpt.config);
    const dtypes = [...new Set([...ckpt.file.tensors.values()].map((t) => t.dtype))].join('/');
    const info = referenceInfo(ckpt.config, file.name, 'file', { dtype: dtypes, bytes: file.size }, ckpt.family);
    this.ref = { config: ckpt.config, read: (n) => ckpt.read(n), info, tokenizer, file, params: null };
    this.out.emit({ type: 'reference', info });
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
    this.ref = { config, read: async (n) => params.get(n)!, info, tokenizer: tokenizerOf(config), file: null, params };
    this.out.emit({ type: 'reference', info });
  }

  /** A saved run's reference and tokens (after a reload), as the run folder kept them. */
  async restore(
    saved: { reference: ByteSource; configJson: string; tokens: Uint32Array; tokenizer: string | null },
    refInfo: ReferenceInfo,
    corpusLabel: string,
  ): Promise<void> {
    const ckpt = await openCheckpoint(saved.reference, { configJson: saved.configJson, label: refInfo.label });
    const tokenizer = tokenizerOf(ckpt.config);
    const info = {
      ...refInfo,
      family: refInfo.family ?? ckpt.family.label,
      widestActivation: ckpt.family.widestActivation(ckpt.config),
    };
    this.ref = { config: ckpt.config, read: (n) => ckpt.read(n), info, tokenizer, file: null, params: null };
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
