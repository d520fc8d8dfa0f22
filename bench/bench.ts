// The benchmark: matmul throughput over a size sweep (square and GPT-2 shapes), attention forward/backward, and whole
// training updates for named configs through the same Trainer the app and CLI use (so its MFU is the dashboard's).
// Runs on any WebGPU adapter; `size: 'ci'` shrinks everything to smoke-test size for the software adapter.

import type { Precision } from '../src/gpu/capabilities';
import type { Gpu } from '../src/gpu/runtime';
import type { KernelTiming } from '../src/gpu/timestamps';
import { type Gpt2Config, gpt2Config } from '../src/model/gpt2/config';
import { Model } from '../src/model/model';
import { paramCount } from '../src/model/params';
import { llamaFromHf } from '../src/model/llama';
import type { ModelConfig } from '../src/model/family';
import { familyOf } from '../src/model/registry';
import { optimizerConfig, type OptimizerKind } from '../src/optim/optimizer';
import { attentionBackward, attentionForward } from '../src/tensor/ops/attention';
import { launchMatmul, splitK, variantsFor, type MatmulVariant } from '../src/tensor/ops/matmul';
import { describeTile, sgmatTile } from '../src/tensor/ops/matmul/sgmat';
import { empty, type Tensor } from '../src/tensor/tensor';
import { flopsPerToken, peakFromTable, type Peak } from '../src/train/mfu';
import { Trainer, type TrainEvent } from '../src/train/trainer';
import { Rng } from '../src/util/rng';
import { randomFill, timeWall } from './measure';
import { benchTensorCores, type TensorCoreCheck, type TensorCoreResult } from './tensor-cores';
import { benchReduce, type ReduceResult } from './reduce';
import { startTfjs, tfjsMatmul, tfjsStep, type PeerMatmul, type PeerStep } from './peers-tfjs';

export type BenchSize = 'ci' | 'full';

export interface BenchOptions {
  size: BenchSize;
  /** Sections to run (default all). */
  only?: ReadonlySet<Section>;
  /** Step configs to run, by name (default all of the size's; also limits the peers' updates). */
  steps?: ReadonlySet<string>;
  /** Progress lines (to stderr in the CLI). */
  log?: (line: string) => void;
  /** Overrides the device-table peak (FLOP/s) that MFU is measured against. */
  peak?: Peak | null;
  /**
   * A second device on the same adapter whose shaders have no bounds clamping (Node only): each matmul case's
   * fastest variant is timed on it too, so one run shows what the clamping costs.
   */
  unchecked?: () => Promise<Gpu>;
  /**
   * A second device on the same adapter whose reductions use workgroup memory alone (GpuOptions.subgroups false):
   * section 'reduce' times its kernels there too, so one run shows what subgroups gain.
   */
  withoutSubgroups?: () => Promise<Gpu>;
  /**
   * A device on Dawn's null backend (Node only), for the host's own cost of recording an update (section 'host'); with
   * `headChunkBytes`, one whose head takes chunks of that many bytes of logits (GpuOptions.headChunkBytes).
   */
  nullDevice?: (headChunkBytes?: number) => Promise<Gpu>;
  /**
   * Called with the report so far after every case, passed or failed (`complete` false until the end), so a run cut
   * off by a time limit still leaves what it measured.
   */
  progress?: (report: BenchReport) => void;
}

/**
 * The host's cost of recording one training update, on a device that executes nothing (Dawn's null backend): the
 * JavaScript engine plus Dawn's validation and recording, without a GPU, its driver or a software GPU competing for
 * the cores. Compare with a GPU step's encodeMsPerStep (whose submitMsPerStep adds the backend's translation).
 */
export type HostResult = Pick<StepResult, (typeof HOST_FIELDS)[number]> & { usPerDispatch: number };
const HOST_FIELDS = [
  'config',
  'model',
  'batch',
  'ctx',
  'optimizer',
  'steps',
  'warmup',
  'dispatchesPerStep',
  'clearsPerStep',
  'clearedBytesPerStep',
  'encodeMsPerStep',
  'submitMsPerStep',
  'bindGroupsCreatedPerStep',
  'buffersCreatedPerStep',
] as const;

/** Bytes as MiB for the log. */
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 24 ? 1 : 0)} MiB`;

export const SECTIONS = ['matmul', 'attention', 'reduce', 'step', 'host', 'peers'] as const;
export type Section = (typeof SECTIONS)[number];

export interface MatmulResult {
  label: string;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  /** Mean wall-clock milliseconds per product, over `reps` products submitted back to back then awaited. */
  ms: number;
  reps: number;
  tflops: number;
  /** Fraction of the peak, when one is known. */
  ofPeak: number | null;
  /** Row chunks the product was split into because the output exceeded one storage binding. */
  chunks: number;
  /** K ranges the launcher splits each chunk's product into (split-K, by shape; 1 = none). */
  kParts: number;
  /** The fastest kernel variant, the mean ms of each, and the worst relative error of 32 sampled entries. */
  variant: MatmulVariant;
  /** Every variant that can run the shape (reg128v4 needs contiguous dimensions that are multiples of 4). */
  variantMs: Partial<Record<MatmulVariant, number>>;
  maxRelErr: number;
  /** The same variant's mean ms on a device without shader bounds clamping (BenchOptions.unchecked), or null. */
  uncheckedMs: number | null;
}

export interface AttentionResult {
  B: number;
  T: number;
  H: number;
  D: number;
  forwardMs: number;
  backwardMs: number;
  /** Causal attention FLOPs (QK^T and PV, half the square): forward 2·B·H·T²·D, backward 2.5× that. */
  forwardTflops: number;
  backwardTflops: number;
}

export interface StepResult {
  config: string;
  model: ModelConfig;
  params: number;
  optimizer: OptimizerKind;
  /** Trained with f16 activations. */
  halfActivations: boolean;
  /** The step's precision, and the tensor-core tile its block products ran on (null: the FP32 kernels). */
  precision: Precision;
  tensorCores: string | null;
  /** Tensor-core products per update (matmul_sgmat dispatches). */
  tensorCoreProductsPerStep: number;
  batch: number;
  ctx: number;
  /** Updates timed (after `warmup` untimed ones). */
  steps: number;
  warmup: number;
  msPerStep: number;
  tokensPerSec: number;
  /** The Trainer's own figures (its moving average, as the dashboard shows them) at the last timed update. */
  trainerTokensPerSec: number;
  trainerMfu: number | null;
  flopsPerToken: number;
  tflops: number;
  mfu: number | null;
  /** The peak mfu is against (its label): the precision's (peakPrecision). */
  mfuPeak: string | null;
  /** Host milliseconds spent recording one update, and its share of the step's wall time. */
  encodeMsPerStep: number;
  encodeShare: number;
  /** The part of the encode time spent handing batches to the GPU (Gpu.submitMs: finish and submit). */
  submitMsPerStep: number;
  /** Per timed update: dispatches recorded, and bind groups and pool buffers created (0 once the caches are warm). */
  dispatchesPerStep: number;
  /** Per timed update: zero fills (clearBuffer) recorded and the bytes they write. */
  clearsPerStep: number;
  clearedBytesPerStep: number;
  bindGroupsCreatedPerStep: number;
  buffersCreatedPerStep: number;
  /**
   * GPU time of one profiled update (no evaluation in it) summed over its dispatches (timestamp-query), and every
   * kernel class of it, longest first.
   */
  gpuMsPerStep: number | null;
  kernels: KernelClass[];
  /** Most bytes the buffer pool held at once during this config (parameters, moments, activations, scratch). */
  peakGpuBytes: number;
  finalLoss: number;
}

/** One kernel class (dispatches of one kernel name) of a profiled update. */
export interface KernelClass {
  label: string;
  ms: number;
  count: number;
  /** Bytes of the storage views its dispatches bound: an upper bound of their memory traffic. */
  bytes: number;
  /** FLOPs its dispatches executed, where their op states them (matmuls, attention), else null. */
  flops: number | null;
  /** Achieved: flops over GPU time, and bytes bound over GPU time (GB/s, the traffic's upper bound). */
  tflops: number | null;
  gbps: number;
}

/** Groups profiled dispatches by kernel name: time, count, bytes bound, FLOPs, achieved rates; longest first. */
export function kernelClasses(timings: readonly KernelTiming[]): KernelClass[] {
  const by = new Map<string, { ms: number; count: number; bytes: number; flops: number | null }>();
  for (const t of timings) {
    const e = by.get(t.label) ?? { ms: 0, count: 0, bytes: 0, flops: t.flops === undefined ? null : 0 };
    e.ms += t.ns / 1e6;
    e.count++;
    e.bytes += t.bytes;
    // A class's FLOPs are known only when every one of its dispatches stated them.
    e.flops = e.flops === null || t.flops === undefined ? null : e.flops + t.flops;
    by.set(t.label, e);
  }
  return [...by]
    .map(([label, v]) => ({
      label,
      ...v,
      tflops: v.flops === null || v.ms <= 0 ? null : v.flops / (v.ms / 1000) / 1e12,
      gbps: v.ms > 0 ? v.bytes / (v.ms / 1000) / 1e9 : 0,
    }))
    .sort((x, y) => y.ms - x.ms);
}

export interface BenchReport {
  date: string;
  size: BenchSize;
  adapter: Gpu['description'];
  /** Whether this run's shaders index with bounds clamping (browsers always; Node unless --no-bounds-checks). */
  boundsChecks: boolean;
  /** Whether LayerNorm and cross-entropy reduced through subgroups on this run's device (Gpu.subgroupReduce). */
  subgroupReduce: boolean;
  /** Whether kernels took their parameters as immediates on this run's device (Gpu.immediates), else a uniform ring. */
  immediates: boolean;
  /** Most bytes of logits per chunk of the fused head (Gpu.headChunkBytes; the bench's --head-chunk-mib). */
  headChunkBytes: number;
  /** shader-f16, subgroups and subgroup-matrix configs of the device (Gpu.capabilities), and its Dawn toggles. */
  capabilities: Gpu['capabilities'];
  toggles: readonly string[];
  peak: Peak | null;
  runtime: string;
  matmul: MatmulResult[];
  /**
   * The tensor-core matmul (f16 operands, f32 accumulation) where the device has an f16 subgroup-matrix config: a
   * 256³ check of every transpose against f64, and the timed shapes; null where it has none.
   */
  tensorCores: { check: TensorCoreCheck; results: TensorCoreResult[] } | null;
  attention: AttentionResult[];
  reduce: ReduceResult[];
  steps: StepResult[];
  host: HostResult[];
  /** TensorFlow.js (WebGPU backend) on the same adapter, with our figure divided by its (>1: we are faster). */
  peers: {
    tfjs: {
      version: string;
      matmul: (PeerMatmul & { oursOverTheirs: number | null })[];
      steps: (PeerStep & { oursOverTheirs: number | null })[];
    } | null;
  };
  errors: { section: string; what: string; message: string }[];
  /** False in the reports handed to `progress` while cases remain; true once every section has run. */
  complete: boolean;
}

interface MatmulShape {
  label: string;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
}

const GPT2 = { C: 768, V: 50257, rows: 8192 };

function matmulShapes(size: BenchSize): MatmulShape[] {
  if (size === 'ci') {
    return [
      ...[64, 128].map((n): MatmulShape => ({ label: `${n}³`, M: n, N: n, K: n })),
      { label: 'head-like (transB)', M: 96, N: 200, K: 32, transB: true },
      { label: 'split-K 64×2048→64', M: 64, N: 64, K: 2048 },
    ];
  }
  const { C, V, rows } = GPT2;
  const square = [256, 512, 1024, 2048, 4096].map((n) => ({ label: `${n}³`, M: n, N: n, K: n }));
  return [
    ...square,
    { label: 'c_attn fwd 8192×768→2304', M: rows, K: C, N: 3 * C },
    { label: 'mlp.c_fc fwd 8192×768→3072', M: rows, K: C, N: 4 * C },
    { label: 'mlp.c_proj fwd 8192×3072→768', M: rows, K: 4 * C, N: C },
    { label: 'c_attn dW (transA) 768×8192→2304', M: C, K: rows, N: 3 * C, transA: true },
    { label: 'c_attn dX (transB) 8192×2304→768', M: rows, K: 3 * C, N: C, transB: true },
    { label: 'attn.c_proj dW (transA) 768×8192→768', M: C, K: rows, N: C, transA: true },
    { label: 'lm head fwd (transB) 8192×768→50257', M: rows, K: C, N: V, transB: true },
    // The trainer's head works in row chunks (320 rows at V = 50257, src/tensor/ops/head.ts): dx and dwte of one.
    { label: 'lm head dx chunk 320×50257→768', M: 320, K: V, N: C },
    { label: 'lm head dW chunk (transA) 50257×320→768', M: V, K: 320, N: C, transA: true },
  ];
}

export interface StepConfig {
  name: string;
  model: ModelConfig;
  batch: number;
  ctx: number;
  steps: number;
  warmup: number;
  optimizer: OptimizerKind;
  /** Train with f16 activations (TrainSettings.halfActivations). */
  halfActivations?: boolean;
  /** TrainSettings.precision (default fp32): f16-mixed runs its block products on tensor cores where the device has them. */
  precision?: Precision;
  /** Not run by the TF.js peer (too slow there for the 600 s a GPU call may take). */
  noTfjs?: boolean;
  /**
   * Host configs only: the head's chunk on the null device (GpuOptions.headChunkBytes), so a small vocabulary (the
   * null backend caps memory) still splits the rows as the real one would.
   */
  headChunkBytes?: number;
}

export function stepConfigs(size: BenchSize): StepConfig[] {
  if (size === 'ci') {
    const tiny: StepConfig = {
      name: 'tiny',
      model: gpt2Config({ vocabSize: 512, positions: 32, width: 32, layers: 2, heads: 2 }),
      batch: 2,
      ctx: 32,
      steps: 2,
      warmup: 3,
      optimizer: 'adamw',
    };
    return [
      tiny,
      { ...tiny, name: 'tiny-f16', halfActivations: true },
      { ...tiny, name: 'tiny-mixed', precision: 'f16-mixed' },
    ];
  }
  const llamaBlocks = (n: number): ModelConfig =>
    llamaFromHf({
      model_type: 'llama',
      vocab_size: 32000,
      hidden_size: 768,
      intermediate_size: 2048,
      num_hidden_layers: n,
      num_attention_heads: 12,
      num_key_value_heads: 4,
      max_position_embeddings: 1024,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      tie_word_embeddings: false,
    });
  const gpt2Blocks = (n: number): Gpt2Config =>
    gpt2Config({
      vocabSize: 50257,
      positions: 1024,
      width: 768,
      layers: n,
      heads: 12,
    });
  const ref8L: StepConfig = {
    name: 'ref-8L',
    model: gpt2Config({ vocabSize: 50257, positions: 256, width: 128, layers: 8, heads: 4 }),
    batch: 16,
    ctx: 256,
    steps: 20,
    warmup: 3,
    optimizer: 'adamw',
  };
  return [
    {
      name: 'tiny',
      model: gpt2Config({ vocabSize: 50257, positions: 256, width: 128, layers: 2, heads: 4 }),
      batch: 16,
      ctx: 256,
      steps: 20,
      warmup: 3,
      optimizer: 'adamw',
    },
    ref8L,
    { ...ref8L, name: 'ref-8L-mixed', precision: 'f16-mixed', noTfjs: true },
    { name: 'gpt2-6L', model: gpt2Blocks(6), batch: 8, ctx: 1024, steps: 10, warmup: 2, optimizer: 'adamw' },
    // f16-mixed (each right after its fp32 twin, so a GPU call cut short still measures it): f16 weight copies,
    // activations and output gradients; the block products on tensor cores where the adapter has them
    // (--tensor-cores), else on the FP32 kernels. MFU against the precision's peak (peakPrecision).
    {
      name: 'gpt2-6L-mixed',
      model: gpt2Blocks(6),
      batch: 8,
      ctx: 1024,
      steps: 10,
      warmup: 2,
      optimizer: 'adamw',
      precision: 'f16-mixed',
      noTfjs: true,
    },
    // GPT-2 124M whole, and a 24-block model of width 1024 (GPT-2 medium's shape, ≈350M): the larger the model, the
    // more the block matmuls weigh against the head.
    {
      name: 'gpt2-12L',
      model: gpt2Blocks(12),
      batch: 8,
      ctx: 1024,
      steps: 6,
      warmup: 2,
      optimizer: 'adamw',
      noTfjs: true,
    },
    {
      name: 'gpt2-24L-1024',
      model: gpt2Config({ vocabSize: 50257, positions: 1024, width: 1024, layers: 24, heads: 16 }),
      batch: 8,
      ctx: 1024,
      steps: 4,
      warmup: 2,
      optimizer: 'adamw',
      noTfjs: true,
    },
    // A Llama of gpt2-6L's size: 12 query and 4 key/value heads of 64, SwiGLU 2048, untied head over Llama 2's 32000.
    { name: 'llama-6L', model: llamaBlocks(6), batch: 8, ctx: 1024, steps: 10, warmup: 2, optimizer: 'adamw' },
    { name: 'gpt2-6L-muon', model: gpt2Blocks(6), batch: 8, ctx: 1024, steps: 10, warmup: 2, optimizer: 'muon' },
    {
      name: 'gpt2-6L-f16',
      model: gpt2Blocks(6),
      batch: 8,
      ctx: 1024,
      steps: 10,
      warmup: 2,
      optimizer: 'adamw',
      halfActivations: true,
    },
  ];
}

function chosenSteps(opts: Pick<BenchOptions, 'size' | 'steps'>): StepConfig[] {
  return stepConfigs(opts.size).filter((c) => !opts.steps || opts.steps.has(c.name));
}

/**
 * The step configs as other peers read them (bench --list-steps): each with its parameter count (a peer checks its
 * model against it) and FLOPs per token (MFU's N).
 */
export function stepConfigsForPeers(size: BenchSize): (StepConfig & { params: number; flopsPerToken: number })[] {
  return stepConfigs(size).map((c) => ({
    ...c,
    params: paramCount(c.model),
    flopsPerToken: flopsPerToken(c.model, c.ctx),
  }));
}

/**
 * GPT-2 124M's block layout (12 heads, six blocks) at small widths: the null backend caps memory, and the host's
 * work per dispatch does not depend on sizes. Warm-up long enough for the pool and bind-group caches to settle.
 */
export function hostConfigs(): StepConfig[] {
  const model: Gpt2Config = gpt2Config({ vocabSize: 1024, positions: 64, width: 96, layers: 6, heads: 12 });
  const narrow = (['adamw', 'muon'] as const).map((optimizer) => ({
    name: 'gpt2-6L layout, narrow',
    model,
    batch: 2,
    ctx: 64,
    steps: 20,
    warmup: 16,
    optimizer,
  }));
  // ref-8L's update (issue 23 asks ≤ 2.5 ms of host encode for it), as tests/unit/dispatches.test.ts counts it: a
  // vocabulary of 1024 for 50257, with the head's 4096 rows in 7 chunks of 640 as at 50257.
  const V = 1024;
  const ref8L: StepConfig = {
    name: 'ref-8L',
    model: gpt2Config({ vocabSize: V, positions: 256, width: 128, layers: 8, heads: 4 }),
    batch: 16,
    ctx: 256,
    steps: 50,
    warmup: 20,
    optimizer: 'adamw',
    headChunkBytes: 640 * V * 4,
  };
  return [...narrow, ref8L];
}

/** Worst |got − f64 dot| / (Σ|a·b| + tiny) over 32 random entries of C's first rows (of the last chunk computed). */
async function checkEntries(
  gpu: Gpu,
  a: Tensor,
  b: Tensor,
  c: Tensor,
  s: MatmulShape,
  rows: number,
  rng: Rng,
): Promise<number> {
  rows = Math.min(rows, 64); // only the first rows are read back (the head's C is 1.6 GB)
  const read = async (v: Parameters<Gpu['read']>[0]) => new Float32Array(await gpu.read(v));
  const [A, B, C] = await Promise.all([
    s.transA ? a.readF32() : read(a.range(0, rows * s.K)),
    b.readF32(),
    read(c.range(0, rows * s.N)),
  ]);
  let worst = 0;
  for (let e = 0; e < 32; e++) {
    const m = rng.int(rows);
    const n = rng.int(s.N);
    let dot = 0;
    let mag = 0;
    for (let k = 0; k < s.K; k++) {
      const x = s.transA ? A[k * s.M + m]! : A[m * s.K + k]!;
      const y = s.transB ? B[n * s.K + k]! : B[k * s.N + n]!;
      dot += x * y;
      mag += Math.abs(x * y);
    }
    worst = Math.max(worst, Math.abs(C[m * s.N + n]! - dot) / (mag + 1e-30));
  }
  return worst;
}

async function benchMatmul(
  gpu: Gpu,
  s: MatmulShape,
  peak: Peak | null,
  targetMs: number,
  only?: MatmulVariant,
): Promise<MatmulResult> {
  const rng = new Rng(1);
  const transA = !!s.transA;
  const transB = !!s.transB;
  const maxBinding = gpu.limits.maxBinding;
  // Output rows per chunk so that one chunk of C (and of A) fits one binding.
  const rowsFit = Math.floor(maxBinding / 4 / Math.max(s.N, s.K));
  const chunkRows = transA ? s.M : Math.min(s.M, Math.max(64, Math.floor(rowsFit / 64) * 64));
  const chunks = Math.ceil(s.M / chunkRows);
  const a = empty(gpu, transA ? [s.K, s.M] : [chunkRows, s.K]);
  const b = empty(gpu, transB ? [s.N, s.K] : [s.K, s.N]);
  const c = empty(gpu, [chunkRows, s.N]);
  try {
    randomFill(gpu, a, rng);
    randomFill(gpu, b, rng);
    const record = (variant?: MatmulVariant) => () => {
      for (let i = 0; i < chunks; i++) {
        const M = Math.min(chunkRows, s.M - i * chunkRows);
        launchMatmul(gpu, { a: a.view, b: b.view, c: c.view, M, N: s.N, K: s.K, transA, transB, variant });
      }
    };
    // Every kernel variant forced; the figure reported is the best, which is what tuning picks for the shape.
    const variantMs: Partial<Record<MatmulVariant, number>> = {};
    let best: { ms: number; reps: number; variant: MatmulVariant } | null = null;
    for (const v of only ? [only] : variantsFor(gpu, { M: s.M, N: s.N, K: s.K, transA, transB })) {
      const r = await timeWall(gpu, record(v), targetMs);
      variantMs[v] = r.ms;
      if (!best || r.ms < best.ms) best = { ...r, variant: v };
    }
    const { ms, reps, variant } = best!;
    const tflops = (2 * s.M * s.N * s.K) / (ms / 1000) / 1e12;
    // Exactness on this adapter: 32 output entries against f64 dot products of the same operands.
    const maxRelErr = await checkEntries(gpu, a, b, c, s, Math.min(chunkRows, s.M), rng);
    const kParts = splitK({ M: Math.min(chunkRows, s.M), N: s.N, K: s.K })?.parts ?? 1;
    return {
      label: s.label,
      M: s.M,
      N: s.N,
      K: s.K,
      transA,
      transB,
      ms,
      reps,
      tflops,
      ofPeak: peak ? (tflops * 1e12) / peak.flops : null,
      chunks,
      kParts,
      variant,
      variantMs,
      maxRelErr,
      uncheckedMs: null,
    };
  } finally {
    for (const t of [a, b, c]) t.dispose();
  }
}

async function benchAttention(gpu: Gpu, size: BenchSize, targetMs: number): Promise<AttentionResult> {
  const [B, T, H, D] = size === 'ci' ? [1, 32, 2, 16] : [8, 1024, 12, 64];
  const C = H * D;
  const rng = new Rng(2);
  const qkv = empty(gpu, [B, T, 3 * C]);
  const dOut = empty(gpu, [B, T, C]);
  const dqkv = empty(gpu, [B, T, 3 * C]);
  randomFill(gpu, qkv, rng);
  randomFill(gpu, dOut, rng);
  const fwd = attentionForward(qkv, H);
  try {
    const f = await timeWall(
      gpu,
      () => {
        const r = attentionForward(qkv, H);
        r.out.dispose();
        r.lse.dispose();
      },
      targetMs,
    );
    const b = await timeWall(
      gpu,
      () => attentionBackward(qkv, fwd.out, dOut, fwd.lse, { t: dqkv, accumulate: false }, B, T, H, H, D),
      targetMs,
    );
    const flops = 2 * B * H * T * T * D; // causal: half of 2 products of 2·T²·D each
    return {
      B,
      T,
      H,
      D,
      forwardMs: f.ms,
      backwardMs: b.ms,
      forwardTflops: flops / (f.ms / 1000) / 1e12,
      backwardTflops: (2.5 * flops) / (b.ms / 1000) / 1e12,
    };
  } finally {
    for (const t of [qkv, dOut, dqkv, fwd.out, fwd.lse]) t.dispose();
  }
}

/** Tensor-core products dispatched on this device so far. */
const sgmatDispatches = (gpu: Gpu) =>
  [...gpu.dispatchesByKernel].reduce((a, [k, n]) => (k.startsWith('matmul_sgmat') ? a + n : a), 0);

export async function benchStep(gpu: Gpu, cfg: StepConfig, peak: Peak | null): Promise<StepResult> {
  gpu.trim();
  gpu.pool.resetPeak();
  const params = familyOf(cfg.model).init(cfg.model, 1);
  const model = await Model.create(gpu, cfg.model, (name) => params.get(name)!);
  params.clear();
  const rng = new Rng(3);
  const n = Math.max(cfg.batch * (cfg.ctx + 1) * 8, 4096);
  const tokens = new Uint32Array(n);
  for (let i = 0; i < n; i++) tokens[i] = Math.floor(rng.next() * cfg.model.vocabSize);
  // + one profiled update. The trainer evaluates at its last step, so it is told of one step more than are run: the
  // profiled update is a bare update, like the timed ones.
  const total = cfg.warmup + cfg.steps + 1;
  const precision = cfg.precision ?? 'fp32';
  const tile = precision === 'f16-mixed' ? sgmatTile(gpu) : null;
  // f16-mixed on tensor cores is measured against the FP16 tensor peak where the table gave the FP32 one.
  const stepPeak =
    tile && peak?.source === 'device table' ? (peakFromTable(gpu.description, 'f16-mixed') ?? peak) : peak;
  const trainer = new Trainer(
    model,
    { train: tokens, val: tokens.subarray(0, cfg.ctx * 2 + 2) },
    {
      batch: cfg.batch,
      ctx: cfg.ctx,
      accum: 1,
      steps: total + 1,
      schedule: { kind: 'cosine', lr: 3e-4, warmup: 0, minLr: 3e-4 },
      optimizer: optimizerConfig(cfg.optimizer),
      evalEvery: 0,
      evalWindows: 1,
      seed: 1,
      halfActivations: !!cfg.halfActivations,
      precision,
    },
    stepPeak,
  );
  try {
    let last: Extract<TrainEvent, { type: 'step' }> | null = null;
    const onEvent = (e: TrainEvent) => {
      if (e.type === 'halt') throw new Error(e.reason);
      if (e.type === 'step') last = e;
    };
    await trainer.run(onEvent, { until: cfg.warmup });
    const enc0 = trainer.encodeMs;
    const sub0 = gpu.submitMs;
    const sgmat0 = sgmatDispatches(gpu);
    const [disp0, groups0, bufs0, clears0, cleared0] = [
      gpu.dispatchCount,
      gpu.bindGroups.misses,
      gpu.pool.created,
      gpu.clearCount,
      gpu.clearedBytes,
    ];
    const t0 = performance.now();
    await trainer.run(onEvent, { until: cfg.warmup + cfg.steps });
    await gpu.sync();
    const msPerStep = (performance.now() - t0) / cfg.steps;
    const encodeMsPerStep = (trainer.encodeMs - enc0) / cfg.steps;
    const submitMsPerStep = (gpu.submitMs - sub0) / cfg.steps;
    const dispatchesPerStep = (gpu.dispatchCount - disp0) / cfg.steps;
    const tensorCoreProductsPerStep = (sgmatDispatches(gpu) - sgmat0) / cfg.steps;
    const bindGroupsCreatedPerStep = (gpu.bindGroups.misses - groups0) / cfg.steps;
    const clearsPerStep = (gpu.clearCount - clears0) / cfg.steps;
    const clearedBytesPerStep = (gpu.clearedBytes - cleared0) / cfg.steps;
    const buffersCreatedPerStep = (gpu.pool.created - bufs0) / cfg.steps;
    const { tokensPerSec: trainerTokensPerSec, mfu: trainerMfu } = last! as {
      tokensPerSec: number;
      mfu: number | null;
    };
    // One more update with per-dispatch timestamps: where the GPU time goes.
    let gpuMsPerStep: number | null = null;
    let kernels: StepResult['kernels'] = [];
    if (gpu.hasTimestamps) {
      gpu.setProfiling(true);
      await trainer.run(onEvent, { until: total });
      const timings = await gpu.takeTimings();
      gpu.setProfiling(false);
      kernels = kernelClasses(timings);
      gpuMsPerStep = kernels.reduce((a, k) => a + k.ms, 0);
    } else {
      await trainer.run(onEvent, { until: total });
    }
    const tokensPerSec = (cfg.batch * cfg.ctx) / (msPerStep / 1000);
    const perToken = flopsPerToken(cfg.model, cfg.ctx);
    const flops = tokensPerSec * perToken;
    return {
      config: cfg.name,
      model: cfg.model,
      params: paramCount(cfg.model),
      optimizer: cfg.optimizer,
      halfActivations: !!cfg.halfActivations,
      precision,
      tensorCores: tile ? describeTile(tile) : null,
      tensorCoreProductsPerStep,
      batch: cfg.batch,
      ctx: cfg.ctx,
      steps: cfg.steps,
      warmup: cfg.warmup,
      msPerStep,
      tokensPerSec,
      trainerTokensPerSec,
      trainerMfu,
      flopsPerToken: perToken,
      tflops: flops / 1e12,
      mfu: stepPeak ? flops / stepPeak.flops : null,
      mfuPeak: stepPeak?.label ?? null,
      encodeMsPerStep,
      encodeShare: encodeMsPerStep / msPerStep,
      submitMsPerStep,
      dispatchesPerStep,
      clearsPerStep,
      clearedBytesPerStep,
      bindGroupsCreatedPerStep,
      buffersCreatedPerStep,
      gpuMsPerStep,
      kernels,
      peakGpuBytes: gpu.pool.stats().peakBytes,
      finalLoss: (last as StepMetricsLike | null)?.loss ?? NaN,
    };
  } finally {
    trainer.dispose();
    model.dispose();
    gpu.trim();
  }
}

/** `r`'s kernel on shape `s` again, on the same adapter's device without shader bounds checks. */
async function benchUnchecked(
  gpu: Gpu,
  device: () => Promise<Gpu>,
  s: MatmulShape,
  r: MatmulResult,
  peak: Peak | null,
  targetMs: number,
): Promise<MatmulResult> {
  const u = await device();
  const [x, y] = [u.description, gpu.description];
  if (
    x.vendor !== y.vendor ||
    x.architecture !== y.architecture ||
    x.device !== y.device ||
    x.description !== y.description
  ) {
    throw new Error(
      `the device without bounds checks is another adapter (${x.description || x.device}, not ${y.description || y.device})`,
    );
  }
  try {
    const again = await benchMatmul(u, s, peak, targetMs, r.variant);
    if (again.maxRelErr > Math.max(1e-5, 10 * r.maxRelErr))
      throw new Error(`the ${r.variant} kernel's max relative error is ${again.maxRelErr.toExponential(1)}`);
    return again;
  } finally {
    u.trim();
  }
}

type StepMetricsLike = { loss: number };

export async function runBench(gpu: Gpu, opts: BenchOptions): Promise<BenchReport> {
  const log = opts.log ?? (() => {});
  const on = (s: Section) => !opts.only || opts.only.has(s);
  const peak = opts.peak !== undefined ? opts.peak : peakFromTable(gpu.description);
  const targetMs = opts.size === 'ci' ? 1 : 300;
  const report: BenchReport = {
    date: new Date().toISOString(),
    size: opts.size,
    adapter: gpu.description,
    boundsChecks: gpu.boundsChecks,
    subgroupReduce: gpu.subgroupReduce,
    immediates: gpu.immediates,
    headChunkBytes: gpu.headChunkBytes,
    capabilities: gpu.capabilities,
    toggles: gpu.toggles,
    peak,
    runtime:
      typeof navigator !== 'undefined' && navigator.userAgent
        ? navigator.userAgent
        : `node ${typeof process !== 'undefined' ? process.version : '?'}`,
    matmul: [],
    tensorCores: null,
    attention: [],
    reduce: [],
    steps: [],
    host: [],
    peers: { tfjs: null },
    errors: [],
    complete: false,
  };
  // Each case runs on its own: one that fails (out of memory, a limit) is recorded and the rest still run.
  const attempt = async <T>(section: Section, what: string, fn: () => Promise<T>, into: T[]) => {
    try {
      const r = await fn();
      into.push(r);
    } catch (e) {
      const message = (e as Error).message ?? String(e);
      report.errors.push({ section, what, message });
      log(`${section} ${what}: FAILED: ${message}`);
      if (gpu.error) throw gpu.error; // the device is gone: nothing further can run
    } finally {
      opts.progress?.(report);
    }
  };
  if (on('matmul')) {
    for (const s of matmulShapes(opts.size)) {
      await attempt(
        'matmul',
        s.label,
        async () => {
          const r = await benchMatmul(gpu, s, peak, targetMs);
          if (opts.unchecked) {
            // Its own error entry: a failure on the second device leaves this case's figures standing.
            const again: MatmulResult[] = [];
            await attempt(
              'matmul',
              `${s.label} without bounds checks`,
              () => benchUnchecked(gpu, opts.unchecked!, s, r, peak, targetMs),
              again,
            );
            r.uncheckedMs = again[0]?.ms ?? null;
          }
          log(
            `matmul ${r.label}: ${r.ms.toFixed(3)} ms, ${r.tflops.toFixed(2)} TFLOP/s${r.ofPeak !== null ? ` (${(100 * r.ofPeak).toFixed(1)}% of peak)` : ''} [${r.variant}${r.kParts > 1 ? `, split-K ${r.kParts}` : ''}; ${Object.entries(
              r.variantMs,
            )
              .map(([k, v]) => `${k} ${v.toFixed(3)}`)
              .join(
                ', ',
              )} ms; max rel err ${r.maxRelErr.toExponential(1)}]${r.uncheckedMs !== null ? `; no bounds checks ${r.uncheckedMs.toFixed(3)} ms` : ''}`,
          );
          return r;
        },
        report.matmul,
      );
    }
  }
  if (on('matmul')) {
    const tc: BenchReport['tensorCores'][] = [];
    await attempt('matmul', 'tensor cores', () => benchTensorCores(gpu, targetMs, log), tc);
    report.tensorCores = tc[0] ?? null;
  }
  if (on('attention')) {
    await attempt(
      'attention',
      'causal',
      async () => {
        const r = await benchAttention(gpu, opts.size, targetMs);
        log(
          `attention B${r.B} T${r.T} H${r.H} D${r.D}: forward ${r.forwardMs.toFixed(2)} ms (${r.forwardTflops.toFixed(2)} TFLOP/s), backward ${r.backwardMs.toFixed(2)} ms (${r.backwardTflops.toFixed(2)} TFLOP/s)`,
        );
        return r;
      },
      report.attention,
    );
  }
  if (on('reduce')) {
    await attempt(
      'reduce',
      'layernorm, cross-entropy',
      async () => {
        const rs = await benchReduce(gpu, opts.size, targetMs, opts.withoutSubgroups);
        for (const r of rs) {
          log(
            `${r.kernel} ${r.rows}×${r.cols}: ${r.ms.toFixed(3)} ms, ${r.gbPerSec.toPrecision(3)} GB/s (${r.subgroups ? 'subgroups' : 'no subgroups'})` +
              `${r.msWithoutSubgroups !== null ? `; without subgroups ${r.msWithoutSubgroups.toFixed(3)} ms` : ''}`,
          );
        }
        report.reduce.push(...rs);
        return rs;
      },
      [] as unknown[],
    );
  }
  if (on('step')) {
    for (const cfg of chosenSteps(opts)) {
      await attempt(
        'step',
        cfg.name,
        async () => {
          const r = await benchStep(gpu, cfg, peak);
          log(
            `step ${r.config} (${r.optimizer}${r.halfActivations ? ', f16 activations' : ''}${r.precision !== 'fp32' ? `, ${r.precision}${r.tensorCores ? `, ${r.tensorCoreProductsPerStep} products per update on tensor cores (${r.tensorCores})` : ', FP32 kernels'}` : ''}, B${r.batch}×T${r.ctx}): ${r.msPerStep.toFixed(1)} ms/update, ${Math.round(r.tokensPerSec)} tok/s, ${r.tflops.toFixed(2)} TFLOP/s` +
              `${r.mfu !== null ? `, MFU ${(100 * r.mfu).toFixed(1)}%` : ''}, encode ${r.encodeMsPerStep.toFixed(2)} ms (${(100 * r.encodeShare).toFixed(1)}%; submit ${r.submitMsPerStep.toFixed(2)} ms; ${r.dispatchesPerStep} dispatches, ${r.clearsPerStep} zero fills of ${mib(r.clearedBytesPerStep)}, ${r.bindGroupsCreatedPerStep} new bind groups, ${r.buffersCreatedPerStep} new buffers)` +
              `${r.gpuMsPerStep !== null ? `, GPU ${r.gpuMsPerStep.toFixed(1)} ms` : ''}, peak ${mib(r.peakGpuBytes)}`,
          );
          return r;
        },
        report.steps,
      );
    }
  }
  if (on('host') && opts.nullDevice) {
    for (const cfg of hostConfigs()) {
      await attempt(
        'host',
        cfg.name,
        async () => {
          const r = await benchStep(await opts.nullDevice!(cfg.headChunkBytes), cfg, null);
          const h = {
            ...Object.fromEntries(HOST_FIELDS.map((k) => [k, r[k]])),
            usPerDispatch: (1000 * r.encodeMsPerStep) / r.dispatchesPerStep,
          } as HostResult;
          log(
            `host ${h.config} (${h.optimizer}, null device): ${h.encodeMsPerStep.toFixed(2)} ms to record an update of ${h.dispatchesPerStep} dispatches and ${h.clearsPerStep} zero fills ` +
              `(${h.usPerDispatch.toFixed(1)} µs each; submit ${h.submitMsPerStep.toFixed(2)} ms; ${h.bindGroupsCreatedPerStep} new bind groups, ${h.buffersCreatedPerStep} new buffers)`,
          );
          return h;
        },
        report.host,
      );
    }
  }
  if (on('peers')) {
    await attempt(
      'peers',
      'tfjs',
      async () => {
        const version = await startTfjs(gpu.instance);
        log(`peer: ${version}`);
        const tfjs: NonNullable<BenchReport['peers']['tfjs']> = { version, matmul: [], steps: [] };
        report.peers.tfjs = tfjs;
        return tfjs;
      },
      [] as unknown[],
    );
    const tfjs = report.peers.tfjs;
    if (tfjs) {
      for (const s of matmulShapes(opts.size)) {
        await attempt(
          'peers',
          `tfjs matmul ${s.label}`,
          async () => {
            const r = await tfjsMatmul(s.label, s.M, s.N, s.K, !!s.transA, !!s.transB, targetMs);
            const ours = report.matmul.find((m) => m.label === s.label);
            const ratio = ours ? ours.tflops / r.tflops : null;
            log(
              `tfjs matmul ${r.label}: ${r.ms.toFixed(3)} ms, ${r.tflops.toFixed(2)} TFLOP/s${ratio !== null ? `; ours ${ratio.toFixed(2)}×` : ''}`,
            );
            return { ...r, oursOverTheirs: ratio };
          },
          tfjs.matmul,
        );
      }
      // The peer's update is GPT-2's (peers-tfjs.ts writes that model in TF.js ops).
      const peerConfigs = chosenSteps(opts).filter(
        (c) => c.optimizer === 'adamw' && !c.halfActivations && !c.precision && !c.noTfjs && c.model.family === 'gpt2',
      );
      for (const { model, ...cfg } of peerConfigs) {
        // TF.js materialises every T×T score matrix and the full logits: if the batch does not fit, halve it.
        for (let batch = cfg.batch; batch >= 1; batch = Math.floor(batch / 2)) {
          const before = report.errors.length;
          await attempt(
            'peers',
            `tfjs step ${cfg.name} B${batch}`,
            async () => {
              const r = await tfjsStep(
                cfg.name,
                model as Gpt2Config,
                batch,
                cfg.ctx,
                Math.min(cfg.steps, 10),
                Math.min(cfg.warmup, 2),
              );
              const ours = report.steps.find((m) => m.config === cfg.name);
              const ratio = ours ? ours.tokensPerSec / r.tokensPerSec : null;
              log(
                `tfjs step ${r.config} (adam, B${r.batch}×T${r.ctx}): ${r.msPerStep.toFixed(1)} ms/update, ${Math.round(r.tokensPerSec)} tok/s${ratio !== null ? `; ours ${ratio.toFixed(2)}×` : ''}`,
              );
              return { ...r, oursOverTheirs: ratio };
            },
            tfjs.steps,
          );
          if (report.errors.length === before) break;
        }
      }
    }
  }
  report.complete = true;
  return report;
}
