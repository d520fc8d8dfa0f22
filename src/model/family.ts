// The model-family seam (DESIGN.md "Layout"): everything above src/model/ sees an architecture only through this
// interface: its config, its parameter table with each tensor's role, init, the forward in pieces (embedding, one
// block, final norm, head), the Hugging Face mapping, the tokenizer, and the facts the trainer and the settings need.
// A family's own parameter names live in its folder alone.

import type { SafetensorsFile } from '../io/safetensors';
import type { TokenizerFiles } from '../io/hf-tokenizer';
import type { Tokenizer } from '../io/tokenizer';
import type { Tensor } from '../tensor';

/** What every family's config has; a family adds its own fields. Structured-clone and JSON safe. */
export interface ModelConfig {
  /** The family's id in the registry (e.g. 'gpt2'). */
  family: string;
  vocabSize: number;
  /** Transformer blocks (the reference's k, the small model's n). */
  layers: number;
  /** Hidden width C (the residual stream). */
  width: number;
  /** Query heads H. */
  heads: number;
  /** Head size D (C/H for GPT-2; given separately where a family allows otherwise). */
  headDim: number;
  /** Longest sequence the model takes (GPT-2: its position table's rows). */
  positions: number;
}

/**
 * What a parameter is, for the parts that treat roles differently: `embedding` (the token table, also the head when
 * tied), `positions` (a learned position table: not counted in MFU's N), `head` (an untied output matrix), `norm`
 * (normalisation gains and biases), `weight` (a linear layer's matrix), `bias`.
 */
export type ParamRole = 'embedding' | 'positions' | 'head' | 'norm' | 'weight' | 'bias';

export interface ParamSpec {
  /** The family's canonical name (its Hugging Face name without prefix). */
  name: string;
  shape: number[];
  size: number;
  role: ParamRole;
  /** Decoupled weight decay applies (DESIGN.md: 2-D tensors only). */
  decay: boolean;
  /** The block the tensor belongs to, or null for the tensors outside the blocks (embeddings, final norm, head). */
  block: number | null;
  /**
   * For a hidden matrix Muon may own: its outputs and inputs (the shape factor uses PyTorch's [out, in] orientation,
   * whatever the storage order); null for everything AdamW keeps.
   */
  muon: { outputs: number; inputs: number } | null;
  /**
   * A block tensor's sub-module, for the inheritance ablation (`--inherit attn|mlp|attn+mlp`): its attention or its
   * MLP. Norms (role `norm`) are neither; absent where a family does not say.
   */
  part?: 'attn' | 'mlp';
}

/**
 * The half-width baseline's initialisation from a reference: the same depth at half the width, each tensor narrowed
 * to chosen rows and columns (`keep`, one index list per axis, null for a whole axis; see src/model/slice.ts).
 */
export interface HalfWidth<C extends ModelConfig> {
  config: C;
  keep(spec: ParamSpec): (number[] | null)[];
}

/** A parameter by canonical name. */
export type ParamLookup = (name: string) => Tensor;

export interface BlockOptions {
  /** Keep the inputs of the block's matmuls that backward reads as f16 (half-precision activations). */
  half?: boolean;
  /**
   * Analysis: also compute the post-softmax attention probabilities averaged over the batch, [H, T, T] (zero above the
   * diagonal), and hand them over (not recorded; the caller disposes them).
   */
  onProbs?: (probs: Tensor) => void;
}

/** A checkpoint opened through a family: its config, where things were read from, and lazy reads by canonical name. */
export interface Checkpoint<C extends ModelConfig = ModelConfig> {
  config: C;
  /** Where the config came from, and anything assumed (shown to the user). */
  notes: string[];
  file: SafetensorsFile;
  /** A parameter's values by canonical name (only that tensor's bytes are read). */
  read(name: string): Promise<Float32Array>;
}

/** How a family reads and writes Hugging Face checkpoints. Errors are CheckpointErrors naming the tensor or field. */
export interface HfMapping<C extends ModelConfig> {
  /** config.json `model_type` values this family reads. */
  modelTypes: readonly string[];
  /** Whether a file's tensor names are this family's layout (when config.json does not say). */
  recognizes(names: readonly string[]): boolean;
  /**
   * Opens a checkpoint of this family: maps the file's tensor names to canonical ones, reads the config from
   * config.json (parsed, when given) and the tensor shapes, and checks every tensor is there with its shape.
   */
  open(
    file: SafetensorsFile,
    configJson: Record<string, unknown> | undefined,
    opts: { heads?: number },
  ): Promise<Checkpoint<C>>;
  /** A config.json transformers loads as is. */
  toHfConfig(c: C): Record<string, unknown>;
}

export interface ModelFamily<C extends ModelConfig = ModelConfig> {
  /** Registry id, stored in configs and snapshots. */
  readonly id: string;
  /** The name users read (messages, the reference card). */
  readonly label: string;
  /** Structural checks (sizes, divisibility); messages name the field. */
  validate(c: C): void;
  /** The same architecture with `layers` blocks (inherit(n), grow). */
  withLayers(c: C, layers: number): C;
  /** Every parameter, in checkpoint order. */
  params(c: C): ParamSpec[];
  /** The family's initialisation, deterministic for a seed; with `only`, just those tensors (the same values). */
  init(c: C, seed: number, only?: ReadonlySet<string>): Map<string, Float32Array>;
  /** The tensors the authors' code leaves at init when it inherits (the "paper-code" option). */
  paperCodeInit(c: C): ReadonlySet<string>;
  /**
   * The half-width baseline (the reference's depth at half its width, narrowed from its weights); absent where the
   * family has none. Throws, naming the size, where the config cannot be halved.
   */
  halfWidth?(c: C): HalfWidth<C>;
  /** Token (and position) embedding of tokens [B·T]: the residual stream [B, T, C]. */
  embed(p: ParamLookup, c: C, tokens: Int32Array, B: number, T: number): Tensor;
  /** Block `layer` over the residual stream x [B, T, C]. */
  block(p: ParamLookup, c: C, layer: number, x: Tensor, opts: BlockOptions): Tensor;
  /** The final norm of the residual stream; `half`: its output as halves (f16-mixed's tensor-core head). */
  finalNorm(p: ParamLookup, c: C, x: Tensor, opts?: { half?: boolean }): Tensor;
  /** The output matrix [V, C] (logits = x·headᵀ): the token embedding when tied. */
  head(p: ParamLookup, c: C): Tensor;
  /** The architecture's name for the reference card (GPT-2, LlamaForCausalLM, Qwen3ForCausalLM, …). */
  architecture(c: C): string;
  /** Key/value heads (H for multi-head attention). */
  kvHeads(c: C): number;
  /**
   * Floats per token that one block keeps for backward (its saved activations, f32), for the memory estimate shown
   * before a run starts.
   */
  savedFloatsPerToken(c: C): number;
  /** Floats per token of the widest activation one micro-batch holds (each activation is one storage binding). */
  widestActivation(c: C): number;
  /**
   * The tokenizer the model's corpora are encoded with: the family's own, or one made from the reference folder's
   * tokenizer files; null when there is none (the message then says what to give). A TokenizerError names a file
   * that cannot be used.
   */
  tokenizer(c: C, files?: TokenizerFiles): Tokenizer | null;
  /** The tokenizer comes from the reference folder's tokenizer.json (without it there is none). */
  readonly tokenizerFromFiles?: boolean;
  /** Hugging Face checkpoints. */
  readonly hf: HfMapping<C>;
  /** A config as this build's predecessors stored it (snapshots and saved runs from before families), if any. */
  fromLegacyConfig?(old: Record<string, unknown>): C;
}
