// Pipeline cache keyed by shader source, entry point and override constants; WGSL errors with line, column, source.

import { expandIncludes, IMMEDIATE_BYTES, paramsBytes, type Constants, type KernelSpec, type LibSwaps } from './kernel';
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
    /** Kernels take their Params as immediates (Gpu.immediates), not from a uniform binding. */
    private readonly immediates = false,
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
    if (this.immediates && paramsBytes(spec) > IMMEDIATE_BYTES)
      throw new Error(
        `Kernel ${spec.name}: ${spec.uniforms.length} uniforms exceed the ${IMMEDIATE_BYTES} bytes of immediates`,
      );
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
        ...(spec.uniforms.length && !this.immediates
          ? [{ binding: spec.storage.length, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' as const } }]
          : []),
      ],
    });
    const numeric: Record<string, number> = {};
    for (const [k, v] of Object.entries(constants)) numeric[k] = Number(v);
    const pipeline = this.device.createComputePipeline({
      label: spec.name,
      layout: this.device.createPipelineLayout({
        bindGroupLayouts: [layout],
        // The Params struct's bytes, as packUniforms lays them out (a multiple of 16).
        ...(this.immediates && spec.uniforms.length ? { immediateSize: paramsBytes(spec) } : {}),
      } as GPUPipelineLayoutDescriptor),
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
    const expanded = expandIncludes(spec.source, `shaders/${spec.name}.wgsl`, this.swaps);
    const { mapLine } = expanded;
    // With immediates, the Params struct moves from its uniform binding to the immediate address space (the same
    // line, so compile messages keep their line numbers).
    const code = this.immediates ? toImmediates(expanded.code, spec.name) : expanded.code;
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

const UNIFORM_PARAMS = /^@group\(0\) @binding\(\d+\) var<uniform> p: Params;$/m;

/** A kernel's code with its Params read as immediates (`var<immediate> p: Params;`) instead of a uniform binding. */
export function toImmediates(code: string, name: string): string {
  if (!code.includes('var<uniform>')) return code;
  if (!UNIFORM_PARAMS.test(code))
    throw new Error(`Kernel ${name}: its uniform is not declared as "@group(0) @binding(N) var<uniform> p: Params;"`);
  return code.replace(UNIFORM_PARAMS, 'var<immediate> p: Params;');
}
