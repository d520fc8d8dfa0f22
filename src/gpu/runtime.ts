// The GPU runtime: one device, its pool and pipeline cache, a command batch with a uniform ring, readback, errors.
// Longer than 400 lines for a reason: every dispatch, copy, clear, upload and readback goes through this one class
// because they share the open batch (encoder, compute pass, uniform ring, staging chunks); its separable parts
// already live in their own files (pool, pipelines, bind groups, timestamps, limits, kernel choices).

import { type Acquired, type AdapterDescription, isSoftwareAdapter } from './device';
import { type Capabilities, capabilitiesOf, type SubgroupMatrixConfig } from './capabilities';
import { GpuDeviceError } from './errors';
import { BindGroupCache } from './bindgroups';
import { GpuLimits } from './limits';
import { type Constants, IMMEDIATE_BYTES, type KernelSpec, packUniforms } from './kernel';
import { PipelineCache } from './pipelines';
import { BufferPool, formatBytes } from './pool';
import { TimestampProfiler, type KernelTiming } from './timestamps';
import { KernelChoices } from './tuning';

/** A byte range of a buffer, as bound to a kernel. Offsets are multiples of 256 (minStorageBufferOffsetAlignment). */
export interface BufferView {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

export interface GpuOptions {
  /**
   * false: workgroup reductions use workgroup memory alone even where the device has subgroups (for tests of that
   * path, and for measuring what subgroups gain). Default true.
   */
  subgroups?: boolean;
  /**
   * Time the variants of tunable kernels (the matmul) on each new shape and keep the fastest (KernelChoices). Default:
   * on a GPU, off on a software adapter, where timing takes minutes and says nothing of a GPU.
   */
  tuneKernels?: boolean;
  /**
   * Most bytes of logits one chunk of the fused head may hold (ops/head.ts; the binding limit caps it too). Default
   * 128 MiB (DEFAULT_HEAD_CHUNK_BYTES): WebGPU's default binding limit, and little memory on a small GPU. Larger
   * chunks mean fewer, taller head products and fewer passes over dw, at twice the bytes in memory (logits and their
   * gradient); the benchmark's --head-chunk-mib measures the trade on a GPU.
   */
  headChunkBytes?: number;
  /**
   * true: kernels take their Params as immediates where the device has them (canUseImmediates), instead of from the
   * uniform ring. Default false: on Dawn's null backend here immediates cost the host about 0.3–0.6 µs more per
   * dispatch than the ring (one more call into Dawn per dispatch; ref-8L's update 2.44 vs 2.15 ms in the benchmark's
   * host section, 2026-12-07); the benchmark's --immediates measures the trade on a GPU.
   */
  immediates?: boolean;
  /**
   * false: products whose operands are both halves (f16-mixed training) run on the f32 kernels (halves widened) even
   * where the device has an f16 → f32 subgroup-matrix config. Default true: they run on tensor cores (matmul_sgmat)
   * where their dimensions fit its tile.
   */
  tensorCores?: boolean;
  /**
   * Tests: act as if the adapter had an f16 → f32 subgroup-matrix config of this shape, running the tensor-core kernel
   * with its subgroup-matrix calls emulated in plain arithmetic (matmul_sgmat_emulated.wgsl; no shader-f16 needed). Slow.
   */
  emulateTensorCores?: { M: number; N: number; K: number } | null;
  /**
   * The tensor-core kernel's K loop through workgroup memory (matmul_sgmat_staged, K slices of twice the config's K)
   * instead of straight from storage. Default false until a GPU has measured which is faster (bench: both loops'
   * TFLOP/s in its tensor-core section; --staged-tensor-cores for the training steps).
   */
  tensorCoreStaging?: boolean;
}

export const DEFAULT_HEAD_CHUNK_BYTES = 128 * 2 ** 20;

/**
 * Whether kernels can take their Params as immediates here (set per dispatch with setImmediates, no uniform buffer
 * bound): the device allows IMMEDIATE_BYTES of them, its WGSL has the immediate address space, and the compute pass
 * encoder has setImmediates (Dawn in Node has all three; browsers as they ship them).
 */
export function canUseImmediates(instance: GPU, device: GPUDevice): boolean {
  const limit = (device.limits as unknown as Record<string, number | undefined>).maxImmediateSize ?? 0;
  const encoder = (globalThis as { GPUComputePassEncoder?: { prototype: object } }).GPUComputePassEncoder;
  return (
    limit >= IMMEDIATE_BYTES &&
    !!instance.wgslLanguageFeatures?.has('immediate_address_space') &&
    !!encoder &&
    'setImmediates' in encoder.prototype
  );
}

/** A compute pass encoder with setImmediates (not yet in the WebGPU types this project uses). */
type ImmediatePass = GPUComputePassEncoder & {
  setImmediates(rangeOffset: number, data: Uint32Array, dataOffset: number, size: number): void;
};

/** A shape of a tunable kernel, as its module records it for timing. */
export type TunedShape = Readonly<Record<string, number | boolean>>;

/**
 * Whether kernels can reduce through subgroups here: the device has the `subgroups` feature and its WGSL knows the
 * subgroup_id builtin (Chrome and Dawn from 2025 on).
 */
export function canReduceInSubgroups(instance: GPU, features: ReadonlySet<string>): boolean {
  return features.has('subgroups') && !!instance.wgslLanguageFeatures?.has('subgroup_id');
}

const UNIFORM_SLOT = 256;
const UNIFORM_SLOTS = 1024;
/** Upload staging chunk: uploads up to this size made while a batch is open are copied in order inside it. */
const STAGING_CHUNK = 1 << 20;

export class Gpu {
  readonly device: GPUDevice;
  readonly description: AdapterDescription;
  readonly limits: GpuLimits;
  /** Per-shape variant choices of tunable kernels on this device (GpuOptions.tuneKernels). */
  readonly kernelChoices: KernelChoices<TunedShape>;
  readonly features: ReadonlySet<string>;
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  readonly bindGroups: BindGroupCache;
  readonly storageUsage: number;
  /** False on a Node device made without shader bounds clamping (NodeDeviceOptions.boundsChecks). */
  readonly boundsChecks: boolean;
  /** Whether LayerNorm and cross-entropy reduce through subgroups (canReduceInSubgroups, unless turned off). */
  readonly subgroupReduce: boolean;
  /** GpuOptions.headChunkBytes. */
  readonly headChunkBytes: number;
  /** Whether kernels take their Params as immediates (asked for, and canUseImmediates), else from the uniform ring. */
  readonly immediates: boolean;
  /** shader-f16, subgroups and the subgroup-matrix configs this device was granted (capabilities.ts). */
  readonly capabilities: Capabilities;
  /** The Dawn toggles of the Node instance ([] in a browser). */
  readonly toggles: readonly string[];
  /**
   * The subgroup-matrix config f16 × f16 products run on (capabilities.tensorCores unless GpuOptions.tensorCores is
   * false, or the emulated one), else null.
   */
  readonly tensorCoreConfig: SubgroupMatrixConfig | null;
  /** tensorCoreConfig is emulated (GpuOptions.emulateTensorCores). */
  readonly tensorCoresEmulated: boolean;
  /** GpuOptions.tensorCoreStaging. */
  readonly tensorCoreStaging: boolean;
  private profiler: TimestampProfiler | null = null;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly uniformBuffer: GPUBuffer;
  private readonly uniformStaging = new ArrayBuffer(UNIFORM_SLOT * UNIFORM_SLOTS);
  private readonly uniformView = new DataView(this.uniformStaging);
  private uniformSlots = 0;
  /** One dispatch's Params, packed here when they go as immediates. */
  private readonly immediateData = new ArrayBuffer(IMMEDIATE_BYTES);
  private readonly immediateView = new DataView(this.immediateData);
  private readonly immediateWords = new Uint32Array(this.immediateData);
  /** Staging chunks mapped for writing and free; those written by the open batch (mapped until it is submitted). */
  private stagingFree: GPUBuffer[] = [];
  private stagingBatch: GPUBuffer[] = [];
  private stagingOffset = 0;
  private stagingAll = new Set<GPUBuffer>();
  private fatal: Error | null = null;
  private errorListeners = new Set<(e: Error) => void>();
  /**
   * Widest x of a folded 2-D grid (grid2d). The device limit; self-checks lower it to exercise the folding, which
   * on a real limit needs more than 65535 workgroups (minutes on a software adapter).
   */
  maxGridX: number;
  /** Count of dispatches since creation (for tests and metrics). */
  dispatchCount = 0;
  /** Dispatches since creation per kernel name (for tests and profiles of what an update runs). */
  readonly dispatchesByKernel = new Map<string, number>();
  /** Zero fills recorded since creation, and their bytes (each also ends the compute pass it interrupts). */
  clearCount = 0;
  clearedBytes = 0;
  submitCount = 0;
  /**
   * Host milliseconds spent in flush() handing recorded batches to the GPU (uniform upload, finish, submit): where a
   * backend turns the recorded commands into its own (Vulkan, Metal, D3D12), apart from recording them.
   */
  submitMs = 0;

  /** The GPU instance: in Node, Dawn tears everything down when its instance object is garbage-collected. */
  readonly instance: GPU;

  constructor(acquired: Acquired, opts: GpuOptions = {}) {
    const chunkBytes = opts.headChunkBytes ?? DEFAULT_HEAD_CHUNK_BYTES;
    if (!Number.isFinite(chunkBytes) || chunkBytes < 2 ** 20)
      throw new RangeError(`headChunkBytes must be at least 1 MiB, got ${chunkBytes}`);
    this.instance = acquired.instance;
    this.device = acquired.device;
    this.description = acquired.description;
    this.boundsChecks = acquired.boundsChecks;
    this.limits = new GpuLimits(acquired.description.limits);
    this.kernelChoices = new KernelChoices(opts.tuneKernels ?? !isSoftwareAdapter(acquired.description));
    this.features = new Set([...acquired.device.features].map(String));
    this.capabilities = capabilitiesOf([...this.features], acquired.description.subgroupMatrixConfigs ?? []);
    this.toggles = acquired.toggles ?? [];
    const emulate = opts.emulateTensorCores ?? null;
    if (emulate && ![emulate.M, emulate.N, emulate.K].every((d) => [4, 8, 16, 32].includes(d)))
      throw new RangeError(`emulateTensorCores needs M, N and K of 4, 8, 16 or 32, got ${JSON.stringify(emulate)}`);
    this.tensorCoresEmulated = !!emulate && opts.tensorCores !== false;
    this.tensorCoreStaging = opts.tensorCoreStaging ?? false;
    this.tensorCoreConfig =
      opts.tensorCores === false
        ? null
        : emulate
          ? { componentType: 'f16', resultComponentType: 'f32', M: emulate.M, N: emulate.N, K: emulate.K }
          : this.capabilities.tensorCores;
    this.storageUsage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    this.pool = new BufferPool(this.device, this.device.limits.maxBufferSize);
    this.maxGridX = this.device.limits.maxComputeWorkgroupsPerDimension;
    this.subgroupReduce = (opts.subgroups ?? true) && canReduceInSubgroups(acquired.instance, this.features);
    this.headChunkBytes = chunkBytes;
    this.immediates = (opts.immediates ?? false) && canUseImmediates(acquired.instance, this.device);
    this.pipelines = new PipelineCache(
      this.device,
      (e) => this.raise(e),
      this.subgroupReduce ? { workgroup_reduce: 'workgroup_reduce_subgroups' } : {},
      this.immediates,
    );
    this.bindGroups = new BindGroupCache(this.device);
    this.uniformBuffer = this.device.createBuffer({
      size: this.uniformStaging.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'uniform-ring',
    });
    // The one funnel for everything the device reports outside an error scope.
    this.device.addEventListener('uncapturederror', (ev) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      const kind =
        err instanceof GPUOutOfMemoryError
          ? 'out-of-memory'
          : err instanceof GPUValidationError
            ? 'validation'
            : 'internal';
      const hint =
        kind === 'out-of-memory'
          ? ' The GPU ran out of memory: use a smaller batch or context (more gradient accumulation keeps the tokens per update), or close other programs using the GPU.'
          : '';
      this.raise(new GpuDeviceError(`GPU ${kind} error: ${err.message}.${hint}`, kind));
    });
    void this.device.lost.then((info) => {
      if (info.reason !== 'destroyed' || !this.fatal)
        this.raise(new GpuDeviceError(`GPU device lost (${info.reason}): ${info.message}`, 'lost'));
    });
  }

  /** Registers a listener for fatal errors (device loss, uncaptured errors, WGSL compile errors). */
  onError(fn: (e: Error) => void): () => void {
    this.errorListeners.add(fn);
    return () => this.errorListeners.delete(fn);
  }

  /** The first fatal error, if any; work after it throws. */
  get error(): Error | null {
    return this.fatal;
  }

  private raise(e: Error): void {
    if (this.fatal) return;
    this.fatal = e;
    for (const fn of this.errorListeners) fn(e);
  }

  private check(): void {
    if (this.fatal) throw this.fatal;
  }

  get hasTimestamps(): boolean {
    return this.features.has('timestamp-query');
  }

  /** Turns per-dispatch GPU timestamps on or off (no-op without timestamp-query). */
  setProfiling(on: boolean): void {
    if (on && !this.profiler && this.hasTimestamps) {
      this.flush();
      this.profiler = new TimestampProfiler(this.device);
    } else if (!on && this.profiler) {
      this.flush();
      this.profiler.destroy();
      this.profiler = null;
    }
  }

  /** Timings of profiled dispatches submitted so far (flushes first). */
  async takeTimings(): Promise<KernelTiming[]> {
    this.flush();
    return this.profiler ? this.profiler.take() : [];
  }

  private dummyBuffer: GPUBuffer | null = null;
  private dummyOutBuffer: GPUBuffer | null = null;
  /** A small storage view bound where a kernel's optional input is absent (e.g. no bias). */
  get dummy(): BufferView {
    this.dummyBuffer ??= this.device.createBuffer({ size: 256, usage: this.storageUsage, label: 'dummy' });
    return { buffer: this.dummyBuffer, offset: 0, size: 256 };
  }
  /**
   * Another, for absent outputs beside absent inputs (one buffer may not be bound both read-only and writable): view
   * `i` (0 to 3) of four disjoint ones, as writable bindings of one dispatch may not overlap.
   */
  dummyOut(i = 0): BufferView {
    if (!(i >= 0 && i < 4)) throw new RangeError(`dummyOut: view ${i} of 4`);
    this.dummyOutBuffer ??= this.device.createBuffer({ size: 1024, usage: this.storageUsage, label: 'dummy output' });
    return { buffer: this.dummyOutBuffer, offset: 256 * i, size: 256 };
  }

  /** Allocates a storage buffer from the pool. */
  alloc(byteSize: number, label?: string): GPUBuffer {
    return this.pool.acquire(byteSize, this.storageUsage, label);
  }

  release(buf: GPUBuffer): void {
    this.pool.release(buf);
  }

  private getEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder({ label: 'batch' });
    return this.encoder;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /**
   * Records one dispatch. `views` bind to the spec's storage bindings in order; `uniforms` fill its Params struct.
   * `flops`, where the op knows it, goes with the dispatch's timing when profiling (achieved TFLOP/s per kernel).
   * Nothing runs until flush() (or a readback) submits the batch.
   */
  dispatch(
    spec: KernelSpec,
    views: readonly BufferView[],
    uniforms: Record<string, number>,
    workgroups: readonly number[],
    constants?: Constants,
    flops?: number,
  ): void {
    this.check();
    if (views.length !== spec.storage.length)
      throw new Error(`Kernel ${spec.name}: ${views.length} buffers bound, ${spec.storage.length} expected.`);
    const [x = 1, y = 1, z = 1] = workgroups;
    const maxDim = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxDim || y > maxDim || z > maxDim)
      throw new Error(`Kernel ${spec.name}: grid ${x}×${y}×${z} exceeds ${maxDim} workgroups per dimension.`);
    if (x === 0 || y === 0 || z === 0) return;
    checkAliasing(spec, views);
    const maxBinding = this.limits.maxStorageBufferBindingSize;
    for (const v of views) {
      if (v.size > maxBinding) {
        throw new RangeError(
          `Kernel ${spec.name}: a binding of ${formatBytes(v.size)} exceeds this adapter's maxStorageBufferBindingSize of ${formatBytes(maxBinding)} ` +
            `(by ${formatBytes(v.size - maxBinding)}). Use a smaller batch or context.`,
        );
      }
    }
    if (this.uniformSlots >= UNIFORM_SLOTS || this.profiler?.full) this.flush();
    const { pipeline, layout } = this.pipelines.get(spec, constants);
    let ranges = views;
    let immediateBytes = 0;
    if (spec.uniforms.length) {
      if (this.immediates) immediateBytes = packUniforms(spec, uniforms, this.immediateView, 0);
      else {
        const offset = this.uniformSlots++ * UNIFORM_SLOT;
        const size = packUniforms(spec, uniforms, this.uniformView, offset);
        ranges = [...views, { buffer: this.uniformBuffer, offset, size }];
      }
    }
    const bindGroup = this.bindGroups.get(layout, ranges, spec.name);
    let pass: GPUComputePassEncoder;
    if (this.profiler) {
      this.endPass();
      let bytes = 0;
      for (const v of views) if (v.buffer !== this.dummyBuffer && v.buffer !== this.dummyOutBuffer) bytes += v.size;
      const timestampWrites = this.profiler.next(spec.name, bytes, flops);
      pass = this.getEncoder().beginComputePass({ label: spec.name, timestampWrites });
    } else {
      pass = this.pass ??= this.getEncoder().beginComputePass({ label: 'batch' });
    }
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    if (immediateBytes) (pass as ImmediatePass).setImmediates(0, this.immediateWords, 0, immediateBytes / 4);
    pass.dispatchWorkgroups(x, y, z);
    if (this.profiler) pass.end();
    this.dispatchCount++;
    this.dispatchesByKernel.set(spec.name, (this.dispatchesByKernel.get(spec.name) ?? 0) + 1);
  }

  /** Destroys the pool's free buffers (after a model or shape change); pending work is submitted first. */
  trim(): void {
    this.flush();
    this.bindGroups.clear();
    this.pool.trim();
  }

  /** Records a buffer-to-buffer copy (ordered with the dispatches around it). */
  copy(src: BufferView, dst: BufferView, bytes = src.size): void {
    this.check();
    this.endPass();
    this.getEncoder().copyBufferToBuffer(src.buffer, src.offset, dst.buffer, dst.offset, bytes);
  }

  /** Records zero-filling a view (ordered with the dispatches around it). */
  clear(view: BufferView): void {
    this.check();
    this.endPass();
    this.getEncoder().clearBuffer(view.buffer, view.offset, view.size);
    this.clearCount++;
    this.clearedBytes += view.size;
  }

  /**
   * Writes host data into a view, ordered with the recorded work around it. With a batch open, the data goes through
   * a staging chunk and a copy recorded in the batch (no submit); otherwise (or for more than a chunk) through
   * queue.writeBuffer, which runs before any not-yet-submitted commands, so a pending batch is submitted first.
   */
  upload(view: BufferView, data: ArrayBufferView): void {
    this.check();
    if (data.byteLength > view.size)
      throw new Error(`upload of ${data.byteLength} bytes into a ${view.size}-byte view`);
    if (this.encoder && data.byteLength <= STAGING_CHUNK && data.byteLength % 4 === 0) {
      this.stagedUpload(view, data);
      return;
    }
    if (this.encoder) this.flush();
    this.device.queue.writeBuffer(view.buffer, view.offset, data.buffer, data.byteOffset, data.byteLength);
  }

  private stagedUpload(view: BufferView, data: ArrayBufferView): void {
    const bytes = data.byteLength;
    if (bytes === 0) return;
    let chunk: GPUBuffer | undefined = this.stagingBatch[this.stagingBatch.length - 1];
    if (!chunk || this.stagingOffset + bytes > STAGING_CHUNK) {
      chunk = this.stagingFree.pop();
      if (!chunk) {
        chunk = this.device.createBuffer({
          size: STAGING_CHUNK,
          usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC,
          mappedAtCreation: true,
          label: 'upload-staging',
        });
        this.stagingAll.add(chunk);
      }
      this.stagingBatch.push(chunk);
      this.stagingOffset = 0;
    }
    new Uint8Array(chunk.getMappedRange(this.stagingOffset, bytes)).set(
      new Uint8Array(data.buffer, data.byteOffset, bytes),
    );
    this.endPass();
    this.getEncoder().copyBufferToBuffer(chunk, this.stagingOffset, view.buffer, view.offset, bytes);
    this.stagingOffset += Math.ceil(bytes / 256) * 256; // getMappedRange offsets: multiples of 8
  }

  /** Staging chunks the GPU has finished reading go back to the free list, mapped for writing again. */
  private recycleStaging(): void {
    for (const chunk of this.stagingBatch) {
      chunk.mapAsync(GPUMapMode.WRITE).then(
        () => {
          if (!this.fatal) return void this.stagingFree.push(chunk);
          this.stagingAll.delete(chunk);
          chunk.destroy();
        },
        () => {
          this.stagingAll.delete(chunk);
          chunk.destroy();
        },
      );
    }
    this.stagingBatch = [];
    this.stagingOffset = 0;
  }

  /** Upload staging chunks alive (free, in the open batch or in flight), for tests and memory accounting. */
  get stagingChunks(): number {
    return this.stagingAll.size;
  }

  /** Submits everything recorded so far as one command buffer. */
  flush(): void {
    this.check();
    if (!this.encoder) return;
    this.endPass();
    const t0 = performance.now();
    const afterSubmit = this.profiler?.encodeResolve(this.encoder) ?? null;
    if (this.uniformSlots)
      this.device.queue.writeBuffer(this.uniformBuffer, 0, this.uniformStaging, 0, this.uniformSlots * UNIFORM_SLOT);
    for (const chunk of this.stagingBatch) chunk.unmap();
    this.device.queue.submit([this.encoder.finish()]);
    this.submitMs += performance.now() - t0;
    this.recycleStaging();
    afterSubmit?.();
    this.submitCount++;
    this.encoder = null;
    this.uniformSlots = 0;
  }

  /** Copies a view back to the host. Resolves after the GPU finished every earlier command. */
  async read(view: BufferView): Promise<ArrayBuffer> {
    this.check();
    const staging = this.pool.acquire(view.size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback');
    this.endPass();
    this.getEncoder().copyBufferToBuffer(view.buffer, view.offset, staging, 0, view.size);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, view.size);
    } catch (e) {
      this.pool.release(staging);
      this.check();
      throw new GpuDeviceError(`Reading a GPU buffer failed: ${(e as Error).message}`, 'internal');
    }
    const out = staging.getMappedRange(0, view.size).slice(0);
    staging.unmap();
    this.pool.release(staging);
    this.check();
    return out;
  }

  /** Waits until the GPU has finished all submitted work; surfaces any error raised meanwhile. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.check();
  }

  /**
   * Runs `fn` inside validation/out-of-memory/internal error scopes and throws the first error it caused.
   * Used by self-checks so a bad dispatch fails its own check, not a later one.
   */
  async scoped<T>(fn: () => Promise<T>): Promise<T> {
    this.flush();
    const filters: GPUErrorFilter[] = ['validation', 'out-of-memory', 'internal'];
    for (const f of filters) this.device.pushErrorScope(f);
    let result: T;
    let thrown: unknown = null;
    try {
      result = await fn();
      this.flush();
    } catch (e) {
      thrown = e;
    }
    const errors = (await Promise.all(filters.map(() => this.device.popErrorScope()))).filter(
      (e): e is GPUError => !!e,
    );
    if (thrown) throw thrown;
    if (errors.length) throw new GpuDeviceError(`GPU error: ${errors.map((e) => e.message).join('; ')}`, 'validation');
    return result!;
  }

  destroy(): void {
    this.profiler?.destroy();
    this.bindGroups.clear();
    this.pool.destroyAll();
    for (const chunk of this.stagingAll) chunk.destroy();
    this.stagingAll.clear();
    this.uniformBuffer.destroy();
    this.dummyBuffer?.destroy();
    this.dummyOutBuffer?.destroy();
    this.fatal ??= new GpuDeviceError('The GPU runtime was destroyed.', 'lost');
    this.device.destroy();
  }
}

/**
 * WebGPU rejects a dispatch that binds one buffer writable and also any other way (even on disjoint ranges), or
 * writable twice on overlapping ranges. Caught here, named, instead of as a late uncaptured validation error.
 */
function checkAliasing(spec: KernelSpec, views: readonly BufferView[]): void {
  for (let i = 0; i < views.length; i++) {
    for (let j = i + 1; j < views.length; j++) {
      const a = views[i]!;
      const b = views[j]!;
      if (a.buffer !== b.buffer) continue;
      const wa = spec.storage[i] === 'rw';
      const wb = spec.storage[j] === 'rw';
      const overlap = a.offset < b.offset + b.size && b.offset < a.offset + a.size;
      if ((wa && wb && overlap) || wa !== wb) {
        throw new Error(
          `Kernel ${spec.name}: bindings ${i} and ${j} use the same buffer ("${a.buffer.label}") ${wa && wb ? 'on overlapping ranges, both writable' : 'as writable and read-only storage'}; WebGPU forbids that in one dispatch.`,
        );
      }
    }
  }
}
