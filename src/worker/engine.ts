// The engine behind the worker: owns the GPU and answers every protocol command with events. Commands go through one
// handler table (a command without a handler fails tsc). It delegates the inputs to inputs.ts, the runs and their
// stage (the stage machine shared with the page) to run-control.ts, which model is current to current-model.ts, and
// sampling and exports to outputs.ts; errors carry codes (errors.ts). The environment (where the GPU, the demo corpus
// and the run folder come from, env.ts) is injected, so the same engine runs in the browser's worker and in Node tests.

import { describeCapabilities, unlockHint } from '../gpu/capabilities';
import { type Acquired, isSoftwareAdapter } from '../gpu/device';
import { GpuDeviceError } from '../gpu/errors';
import { Gpu } from '../gpu/runtime';
import { validationWindows } from '../io/corpus';
import { analyzeAttention } from '../inheritune/analyze';
import type { RunSettings } from '../settings/schema';
import type { ExportDtype } from '../model/checkpoint';
import { streamedValidationLoss } from '../train/evaluate';
import { StreamedWeights } from '../model/streamed';
import { measureMatmulPeak } from '../train/mfu';
import { describeTile, sgmatTile } from '../tensor/ops/matmul/sgmat';
import { verifyTensorCores } from '../tensor/ops/matmul/tensor-cores';
import { type Peak, peakFromTable, userPeak } from '../train/peak';
import { RunFolder } from '../train/run-folder';
import { CurrentModel } from './current-model';
import { Emitter } from './emitter';
import type { EngineEnv } from './env';
import { EngineError, errorCode } from './errors';
import { Inputs } from './inputs';
import { exportFiles, sampleText } from './outputs';
import type { Command, ErrorScope, WorkerEvent } from './protocol';
import { RunControl } from './run-control';
import { canLoad } from './stages';

export type { EngineEnv } from './env';
export { browserEnv } from './env';
export { MAX_RECOVERIES } from './run-control';

type Handlers = { [K in Command['type']]: (cmd: Extract<Command, { type: K }>) => Promise<void> | void };

export class Engine {
  private readonly out: Emitter;
  private readonly inputs: Inputs;
  private readonly models: CurrentModel;
  private readonly runs: RunControl;
  private gpu: Gpu | null = null;
  private tablePeak: Peak | null = null;
  /** The table's FP16 tensor peak where f16-mixed runs on tensor cores here (peakPrecision), else null. */
  private tensorCorePeak: Peak | null = null;
  private measuredPeak: Peak | null = null;
  private peakMeasuredByUser = false;
  /** The exclusive task under way (analysing, measuring, training), for "busy" messages. */
  private task: string | null = null;
  private readonly loads = new Set<'checkpoint' | 'corpus'>();
  private modelsAsked = 0;

  private readonly handlers: Handlers = {
    init: () => this.init(),
    'load-checkpoint': (c) => this.loading('checkpoint', () => this.inputs.loadCheckpoint(c.files)),
    'load-corpus': (c) => this.loading('corpus', () => this.inputs.loadCorpus(c.file)),
    analyze: (c) => this.exclusive('analysing the reference', 'analyze', () => this.analyze(c.ctx, c.windows)),
    'measure-peak': () => this.exclusive('measuring the matmul peak', 'gpu', () => this.measurePeak()),
    start: (c) => this.exclusive('training', 'run', () => this.runs.start(c.settings)),
    demo: (c) => this.exclusive('training', 'run', () => this.runs.demo(c.demo, c.settings)),
    resume: () => this.exclusive('training', 'run', () => this.runs.resume()),
    pause: () => this.runs.requestStop('pause'),
    stop: () => this.runs.requestStop('stop'),
    'discard-saved': () => {
      if (this.task) throw new EngineError('busy', 'A run is under way.');
      return this.runs.discardSaved();
    },
    sample: (c) => this.guarded('sample', () => this.sample(c)),
    export: (c) => this.guarded('export', () => this.export(c.what, c.dtype ?? 'F32')),
  };

  constructor(
    post: (e: WorkerEvent) => void,
    private readonly env: EngineEnv,
  ) {
    this.out = new Emitter(post);
    this.inputs = new Inputs(this.out, () => env.demoCorpus());
    this.models = new CurrentModel(
      () => this.runs.folder,
      () => void this.emitModels(),
    );
    this.runs = new RunControl({
      out: this.out,
      inputs: this.inputs,
      models: this.models,
      env,
      gpu: () => this.requireGpu(),
      gpuError: () => this.gpu?.error ?? null,
      reacquire: async () => void this.adopt(await this.env.acquire()),
      peakFor: (s) => this.peakFor(s),
      notice: (scope, e) => this.fail(scope, e),
      modelsChanged: () => void this.emitModels(),
    });
  }

  async handle(cmd: Command): Promise<void> {
    try {
      await (this.handlers[cmd.type] as (c: Command) => Promise<void> | void)(cmd);
    } catch (e) {
      this.fail(cmd.type === 'init' ? 'gpu' : 'run', e);
    }
  }

  private fail(scope: ErrorScope, e: unknown): void {
    this.out.emit({ type: 'error', scope, code: errorCode(e), message: e instanceof Error ? e.message : String(e) });
  }

  private async guarded(scope: ErrorScope, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.fail(scope, e);
    }
  }

  /** Tells the page which model Sample and Export would use (the latest answer wins). */
  private async emitModels(): Promise<void> {
    const asked = ++this.modelsAsked;
    const current = await this.models.describe().catch(() => null);
    if (asked === this.modelsAsked) this.out.emit({ type: 'models', current, log: this.runs.hasLog });
  }

  /** Tells the page what the engine is doing, so it can hold back what would be refused. */
  private emitBusy(): void {
    this.out.emit({ type: 'busy', task: this.task, loads: [...this.loads] });
  }

  private async exclusive(what: string, scope: ErrorScope, fn: () => Promise<void>): Promise<void> {
    if (this.task) {
      const hint = this.task === 'training' ? ', or pause or stop the run' : '';
      return this.fail(scope, new EngineError('busy', `Busy ${this.task}: wait for it to finish${hint}.`));
    }
    if (!this.gpu)
      return this.fail(scope, new EngineError('not-ready', 'The GPU engine is not ready (no WebGPU device).'));
    if (this.loads.size) {
      const loading = [...this.loads].join(' and ');
      return this.fail(scope, new EngineError('busy', `Still loading the ${loading}: wait for it to finish.`));
    }
    this.task = what;
    this.emitBusy();
    try {
      await fn();
    } catch (e) {
      this.fail(scope, e);
    } finally {
      this.runs.releaseIfIdle();
      this.task = null;
      this.emitBusy();
    }
  }

  /** A checkpoint and a corpus load side by side (a user drops both at once); two of the same kind do not. */
  private async loading(kind: 'checkpoint' | 'corpus', fn: () => Promise<void>): Promise<void> {
    const refuse = (message: string) => this.fail(kind, new EngineError('busy', message));
    if (this.loads.has(kind)) return refuse(`Still loading the previous ${kind}: wait for it to finish.`);
    // An analysis would report on the new input with the old one's figures; a run or the demo reads its inputs.
    if (this.task) return refuse(`Busy ${this.task}: load the ${kind} once it has finished.`);
    if (!canLoad(this.runs.stage)) {
      const message = `A run holds the inputs: stop it before loading another ${kind}.`;
      return this.fail(kind, new EngineError('not-allowed', message));
    }
    this.loads.add(kind);
    this.emitBusy();
    try {
      await fn();
    } catch (e) {
      this.fail(kind, e);
    } finally {
      this.loads.delete(kind);
      this.emitBusy();
    }
  }

  private requireGpu(): Gpu {
    if (!this.gpu) throw new EngineError('not-ready', 'The GPU engine is not ready (no WebGPU device).');
    if (this.gpu.error)
      throw new EngineError(
        'gpu',
        `The GPU failed earlier and must be restarted (reload the page; your last checkpoint is kept): ${this.gpu.error.message}`,
      );
    return this.gpu;
  }

  // ---- start-up ----

  private async init(): Promise<void> {
    let acquired: Acquired;
    try {
      acquired = await this.env.acquire();
    } catch (e) {
      this.out.emit({ type: 'no-webgpu', reason: (e as Error).message });
      return;
    }
    const gpu = this.adopt(acquired);
    const d = gpu.description;
    this.tablePeak = peakFromTable(d);
    // Tensor cores are checked before a run trusts them (a wrong tile is turned off; the header says why).
    let tensorCoreCheck: string | null = null;
    try {
      tensorCoreCheck = (await verifyTensorCores(gpu))?.detail ?? null;
    } catch (e) {
      this.fail('gpu', e);
    }
    const tile = sgmatTile(gpu);
    this.tensorCorePeak = tile ? peakFromTable(d, 'f16-mixed') : null;
    try {
      const store = await this.env.runStore();
      this.runs.folder = store ? new RunFolder(store) : null;
    } catch (e) {
      this.fail('storage', e);
    }
    // Without a table peak, measure one before the app opens (≤ 2 s), so no command meets a busy engine.
    if (!this.tablePeak) {
      try {
        this.measuredPeak = await measureMatmulPeak(gpu);
      } catch (e) {
        this.fail('gpu', e);
      }
    }
    const folder = this.runs.folder;
    this.runs.hasLog = !!(await folder?.readLog())?.length;
    this.out.emit({
      type: 'ready',
      peak: this.tablePeak ?? this.measuredPeak,
      saved: (await folder?.saved()) ?? null,
      adapter: {
        name: d.description || [d.vendor, d.architecture, d.device].filter(Boolean).join(' ') || 'unnamed adapter',
        vendor: d.vendor,
        architecture: d.architecture,
        features: d.features,
        maxStorageBufferBindingSize: gpu.limits.maxStorageBufferBindingSize,
        maxBufferSize: gpu.limits.maxBufferSize,
        timestamps: gpu.hasTimestamps,
        capabilities: gpu.capabilities,
        capabilityLine: describeCapabilities(gpu.capabilities),
        unlock: unlockHint(gpu.capabilities, {
          where: typeof process !== 'undefined' && process.versions?.node ? 'node' : 'browser',
          vendor: d.vendor,
          software: isSoftwareAdapter(d),
          toggles: gpu.toggles.includes('allow_unsafe_apis'),
          userAgent: typeof navigator !== 'undefined' ? navigator.userAgent : undefined,
        }),
        tensorCoreTile: tile ? describeTile(tile) : null,
        tensorCorePeak: this.tensorCorePeak,
        tensorCoreCheck,
      },
    });
    await this.emitModels();
  }

  /** Makes `acquired` the engine's GPU, reporting its fatal errors (a lost device during a run is recovered instead). */
  private adopt(acquired: Acquired): Gpu {
    const gpu = new Gpu(acquired);
    this.gpu = gpu;
    gpu.onError((e) => {
      if (e instanceof GpuDeviceError && e.kind === 'lost' && this.runs.stage === 'running') return; // recovered
      const message = `${e.message}. The run stopped; reload the page to resume from the last checkpoint.`;
      this.fail('gpu', new EngineError('gpu', message));
    });
    return gpu;
  }

  private async measurePeak(): Promise<void> {
    await this.out.tracked('measuring the matmul peak', async (p) => {
      p(0, 1);
      this.measuredPeak = await measureMatmulPeak(this.requireGpu());
      this.peakMeasuredByUser = true; // asked for: it replaces the device table's figure
    });
    this.out.emit({ type: 'peak', peak: this.defaultPeak() });
  }

  /** The peak MFU is measured against when the form leaves it empty: one the user measured, else the table's. */
  private defaultPeak(): Peak | null {
    return this.peakMeasuredByUser ? this.measuredPeak : (this.tablePeak ?? this.measuredPeak);
  }

  /** The peak of the precision the run's products run in: f16-mixed on tensor cores has its own (peakPrecision). */
  private peakFor(s: RunSettings): Peak | null {
    if (s.peakTflops !== null) return userPeak(s.peakTflops);
    if (!this.peakMeasuredByUser && s.precision === 'f16-mixed' && this.tensorCorePeak) return this.tensorCorePeak;
    return this.defaultPeak();
  }

  // ---- analysis, sampling, exports ----

  private async analyze(ctx: number, windows: number): Promise<void> {
    const { ref } = this.inputs.need();
    const gpu = this.requireGpu();
    if (!Number.isInteger(ctx) || ctx < 1 || ctx > ref.config.positions)
      throw new EngineError(
        'settings',
        `context must be a whole number from 1 to ${ref.config.positions} (the reference's positions), got ${ctx}`,
      );
    await this.inputs.encodeFor(ref.tokenizer);
    const { corpus } = this.inputs.need();
    validationWindows(corpus.val, ctx, windows); // throws naming how many windows fit
    // Layer by layer, reading each layer's weights when its turn comes: the reference need not fit on the GPU whole.
    const model = new StreamedWeights(gpu, ref.config, (n) => ref.read(n));
    try {
      const valLoss = await this.out.tracked('reference validation loss', (p) =>
        streamedValidationLoss(model, corpus.val, ctx, windows, { onProgress: p }),
      );
      this.out.emit({ type: 'reference-val', valLoss, ctx, windows });
      const B = Math.min(4, windows);
      const { inputs } = validationWindows(corpus.val, ctx, B);
      const report = await this.out.tracked('attention rank per layer', (p) =>
        analyzeAttention(model, inputs, B, ctx, p),
      );
      this.out.emit({ type: 'analysis', report });
    } finally {
      model.release();
    }
  }

  private async sample(r: { prompt: string; tokens: number; temperature: number; topK: number }): Promise<void> {
    try {
      await sampleText(this.out, this.models, this.requireGpu(), r, this.inputs.ref);
    } catch (e) {
      this.out.emit({ type: 'sample', text: '', done: true });
      throw e;
    }
  }

  private async export(what: 'model' | 'log-json' | 'log-csv', dtype: ExportDtype): Promise<void> {
    const files = await exportFiles(this.out, this.models, what, () => this.runs.log(), this.inputs.ref, dtype);
    this.out.emit({ type: 'export', files });
  }
}
