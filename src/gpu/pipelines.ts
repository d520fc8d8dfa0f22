// Pipeline cache keyed by shader source, entry point and override constants; WGSL errors with line, column, source.

import { expandIncludes, type Constants, type KernelSpec, type LibSwaps } from './kernel';
import { GpuDeviceError, ShaderCompileError, formatCompilationMessages } from './errors';

export interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Resolves once the module's compilation messages were checked; rejects with ShaderCompileError. */
  ready: Promise<void>;
}

export class PipelineCache {
  private modules = new Map<string, { module: GPUShaderModule; ready: Promise<void> }>();
  /** By shader source (a constant string, so V8 hashes it once), then entry point and constants. */
  private pipelines = new Map<string, Map<string, CachedPipeline>>();
  private count = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly onError: (e: Error) => void,
    /** Library variants this device uses (see expandIncludes). */
    private readonly swaps: LibSwaps = {},
  ) {}

  get size(): number {
    return this.count;
  }

  get(spec: KernelSpec, constants: Constants = {}): CachedPipeline {
    const entry = spec.entry ?? 'main';
    let key = entry;
    for (const k of Object.keys(constants).sort()) key += `\u0000${k}=${Number(constants[k])}`;
    let bySource = this.pipelines.get(spec.source);
    if (!bySource) {
      bySource = new Map();
      this.pipelines.set(spec.source, bySource);
    }
    let hit = bySource.get(key);
    if (hit) return hit;
    // Creation errors are caught in a scope so the funnel gets the specific ShaderCompileError (line, column,
    // source) rather than the device's generic validation message for the same fault.
    this.device.pushErrorScope('validation');
    const mod = this.module(spec);
    const layout = this.device.createBindGroupLayout({
      label: spec.name,
      entries: [
        ...spec.storage.map((access, binding) => ({
          binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: access === 'read' ? ('read-only-storage' as const) : ('storage' as const) },
        })),
        ...(spec.uniforms?.length
          ? [{ binding: spec.storage.length, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' as const } }]
          : []),
      ],
    });
    const numeric: Record<string, number> = {};
    for (const [k, v] of Object.entries(constants)) numeric[k] = Number(v);
    const pipeline = this.device.createComputePipeline({
      label: spec.name,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module: mod.module, entryPoint: entry, constants: numeric },
    });
    const created = this.device.popErrorScope();
    const ready = mod.ready.then(async () => {
      const err = await created;
      if (err) {
        const e = new GpuDeviceError(`Creating the pipeline for ${spec.name} failed: ${err.message}`, 'validation');
        this.onError(e);
        throw e;
      }
    });
    ready.catch(() => undefined);
    hit = { pipeline, layout, ready };
    bySource.set(key, hit);
    this.count++;
    return hit;
  }

  private module(spec: KernelSpec) {
    let m = this.modules.get(spec.source);
    if (m) return m;
    const { code, mapLine } = expandIncludes(spec.source, `shaders/${spec.name}.wgsl`, this.swaps);
    const module = this.device.createShaderModule({ label: spec.name, code });
    const ready = module.getCompilationInfo().then((info) => {
      const errors = info.messages.filter((x) => x.type === 'error');
      if (errors.length) {
        const err = new ShaderCompileError(spec.name, formatCompilationMessages(code, errors, mapLine));
        this.onError(err);
        throw err;
      }
    });
    // Unobserved rejections are reported through onError; keep Node from flagging them twice.
    ready.catch(() => undefined);
    m = { module, ready };
    this.modules.set(spec.source, m);
    return m;
  }
}
