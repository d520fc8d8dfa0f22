// The engine behind the worker: owns the GPU, the inputs (inputs.ts), the run folder, the session and the current
// model (current-model.ts), and answers every protocol command with events. Commands go through one handler table
// (a command without a handler fails tsc); the run's stage moves only through the stage machine shared with the
// page (stages.ts); errors carry codes (errors.ts). Environment-specific pieces (where the GPU, the demo corpus and
// the run folder come from) are injected, so the same engine runs in the browser's worker and in Node tests.

import { type Acquired, acquireDevice } from '../gpu/device';
import { GpuDeviceError } from '../gpu/errors';
import { Gpu } from '../gpu/runtime';
import { validationWindows } from '../io/corpus';
import { gpt2Bpe } from '../io/tokenizer';
import { analyzeAttention } from '../inheritune/analyze';
import type { PipelineResult } from '../inheritune/pipeline';
import { Model } from '../model/model';
import { familyOf } from '../model/registry';
import { checkDemo, type DemoSettings, demoConfig, demoContext } from '../settings/demo';
import { inherituneSettings } from '../settings/engine';
import { assertValid, checkRunSettings, type RunSettings } from '../settings/schema';
import { validationLoss } from '../train/evaluate';
import { measureMatmulPeak } from '../train/mfu';
import { type Peak, peakFromTable, userPeak } from '../train/peak';
import { RunFolder } from '../train/run-folder';
import type { RunStore } from '../train/snapshot';
import { CurrentModel } from './current-model';
import { Emitter } from './emitter';
import { EngineError, errorCode } from './errors';
import { Inputs, referenceInfo } from './inputs';
import { exportFiles, sampleText } from './outputs';
import type { Command, ErrorScope, ReferenceInfo, SavedRunInfo, WorkerEvent } from './protocol';
import { type LogEntry, Session } from './session';
import { canLoad, nextStage, type Stage, type StageEvent } from './stages';

export interface EngineEnv {
  acquire(): Promise<Acquired>;
  /** The bundled demo corpus's text. */
  demoCorpus(): Promise<string>;
  /** The folder runs are saved in (OPFS in the browser); null when the browser has none. */
  runStore(): Promise<RunStore | null>;
  /**
   * Claims the one run this origin's saved-run folder can hold, across tabs; resolves to its release, or null when
   * another tab holds it. Absent: no other engine shares the folder.
   */
  claimRun?(): Promise<(() => void) | null>;
}

/** Device losses the engine recovers from on its own (each re-acquires the GPU and resumes from the last snapshot). */
export const MAX_RECOVERIES = 2;

const isDeviceLoss = (e: unknown): e is GpuDeviceError => e instanceof GpuDeviceError && e.kind === 'lost';

type Handlers = { [K in Command['type']]: (cmd: Extract<Command, { type: K }>) => Promise<void> | void };

export class Engine {
  private readonly out: Emitter;
  private readonly inputs: Inputs;
  private readonly models: CurrentModel;
  private gpu: Gpu | null = null;
  private tablePeak: Peak | null = null;
  private measuredPeak: Peak | null = null;
  private peakMeasuredByUser = false;
  private folder: RunFolder<SavedRunInfo> | null = null;
  private session: Session | null = null;
  /** The exclusive task under way (analysing, measuring, training), for "busy" messages. */
  private task: string | null = null;
  private readonly loads = new Set<'checkpoint' | 'corpus'>();
  private stage: Stage = 'idle';
  private stopMode: 'pause' | 'stop' | null = null;
  /** A log to export exists (this session's, or the last run's in the run folder). */
  private hasLog = false;
  private modelsAsked = 0;
  /** Device losses recovered from since the engine started. */
  private recoveries = 0;
  /** Releases this engine's claim on the run folder (EngineEnv.claimRun); null when it holds none. */
  private releaseRun: (() => void) | null = null;

  private readonly handlers: Handlers = {
    init: () => this.init(),
    'load-checkpoint': (c) => this.loading('checkpoint', () => this.inputs.loadCheckpoint(c.files)),
    'load-corpus': (c) => this.loading('corpus', () => this.inputs.loadCorpus(c.file)),
    analyze: (c) => this.exclusive('analysing the reference', 'analyze', () => this.analyze(c.ctx, c.windows)),
    'measure-peak': () => this.exclusive('measuring the matmul peak', 'gpu', () => this.measurePeak()),
    start: (c) => this.exclusive('training', 'run', () => this.start(c.settings)),
    demo: (c) => this.exclusive('training', 'run', () => this.demo(c.demo, c.settings)),
    resume: () => this.exclusive('training', 'run', () => this.resume()),
    pause: () => this.requestStop('pause'),
    stop: () => this.requestStop('stop'),
    'discard-saved': () => this.discardSaved(),
    sample: (c) => this.guarded('sample', () => this.sample(c.prompt, c.tokens, c.temperature, c.topK)),
    export: (c) => this.guarded('export', () => this.export(c.what)),
  };

  constructor(
    post: (e: WorkerEvent) => void,
    private readonly env: EngineEnv,
  ) {
    this.out = new Emitter(post);
    this.inputs = new Inputs(this.out, () => env.demoCorpus());
    this.models = new CurrentModel(
      () => this.folder,
      () => void this.emitModels(),
    );
  }

  async handle(cmd: Command): Promise<void> {
    try {
      await (this.handlers[cmd.type] as (c: Command) => Promise<void> | void)(cmd);
    } catch (e) {
      this.fail(cmd.type === 'pause' || cmd.type === 'stop' || cmd.type === 'discard-saved' ? 'run' : 'gpu', e);
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

  // ---- the stage and what the page is told ----

  /** Moves the stage machine; an event it does not allow there is an error naming the stage. */
  private move(event: StageEvent, detail?: string): void {
    const next = nextStage(this.stage, event);
    if (!next)
      throw new EngineError(
        'not-allowed',
        `Cannot ${event.replace('ended:', 'end as ')} while the run is ${this.stage}.`,
      );
    this.stage = next;
    this.releaseRunIfIdle();
    this.out.emit({ type: 'stage', stage: next, ...(detail ? { detail } : {}) });
  }

  /** Tells the page which model Sample and Export would use (the latest answer wins). */
  private async emitModels(): Promise<void> {
    const asked = ++this.modelsAsked;
    const current = await this.models.describe().catch(() => null);
    if (asked === this.modelsAsked) this.out.emit({ type: 'models', current, log: this.hasLog });
  }

  /** Tells the page what the engine is doing, so it can hold back what would be refused. */
  private emitBusy(): void {
    this.out.emit({ type: 'busy', task: this.task, loads: [...this.loads] });
  }

  /** Gives the run folder back once this engine has no run in it (ended, or a start that failed before running). */
  private releaseRunIfIdle(): void {
    if (this.releaseRun && canLoad(this.stage)) {
      this.releaseRun();
      this.releaseRun = null;
    }
  }

  private async exclusive(what: string, scope: ErrorScope, fn: () => Promise<void>): Promise<void> {
    if (this.task) {
      const hint = this.task === 'training' ? ', or pause or stop the run' : '';
      return this.fail(scope, new EngineError('busy', `Busy ${this.task}: wait for it to finish${hint}.`));
    }
    if (!this.gpu)
      return this.fail(scope, new EngineError('not-ready', 'The GPU engine is not ready (no WebGPU device).'));
    if (this.loads.size)
      return this.fail(
        scope,
        new EngineError('busy', `Still loading the ${[...this.loads].join(' and ')}: wait for it to finish.`),
      );
    this.task = what;
    this.emitBusy();
    try {
      await fn();
    } catch (e) {
      this.fail(scope, e);
    } finally {
      this.releaseRunIfIdle();
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
    if (!canLoad(this.stage))
      return this.fail(
        kind,
        new EngineError('not-allowed', `A run holds the inputs: stop it before loading another ${kind}.`),
      );
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
    try {
      const store = await this.env.runStore();
      this.folder = store ? new RunFolder(store) : null;
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
    this.hasLog = !!(await this.folder?.readLog())?.length;
    this.out.emit({
      type: 'ready',
      peak: this.tablePeak ?? this.measuredPeak,
      saved: (await this.folder?.saved()) ?? null,
      adapter: {
        name: d.description || [d.vendor, d.architecture, d.device].filter(Boolean).join(' ') || 'unnamed adapter',
        vendor: d.vendor,
        architecture: d.architecture,
        features: d.features,
        maxStorageBufferBindingSize: gpu.limits.maxStorageBufferBindingSize,
        maxBufferSize: gpu.limits.maxBufferSize,
        timestamps: gpu.hasTimestamps,
      },
    });
    await this.emitModels();
  }

  /** Makes `acquired` the engine's GPU, reporting its fatal errors (a lost device during a run is recovered instead). */
  private adopt(acquired: Acquired): Gpu {
    const gpu = new Gpu(acquired);
    this.gpu = gpu;
    gpu.onError((e) => {
      if (isDeviceLoss(e) && this.stage === 'running') return; // finishRun re-acquires and resumes
      this.fail(
        'gpu',
        new EngineError('gpu', `${e.message}. The run stopped; reload the page to resume from the last checkpoint.`),
      );
    });
    return gpu;
  }

  /**
   * After the GPU device was lost mid-run (a driver reset, the GPU process restarting): acquires a new device and
   * resumes the run from its last snapshot in the run folder, as a reload would. At most MAX_RECOVERIES times a run.
   */
  private async recover(lost: Error): Promise<boolean> {
    if (this.recoveries >= MAX_RECOVERIES || !(await this.folder?.saved())) return false;
    this.recoveries++;
    this.fail(
      'gpu',
      new EngineError(
        'gpu',
        `${lost.message}. Acquiring a new GPU device and resuming from the last checkpoint (recovery ${this.recoveries} of ${MAX_RECOVERIES}).`,
      ),
    );
    this.session = null;
    this.models.forgetDevice(); // what lived on the lost device
    try {
      this.adopt(await this.env.acquire());
    } catch (e) {
      this.fail(
        'gpu',
        new EngineError(
          'gpu',
          `No GPU device could be acquired after the loss (${(e as Error).message}); reload the page to resume from the last checkpoint.`,
        ),
      );
      return false;
    }
    this.stage = 'halted'; // the lost run ended; resuming moves it on
    await this.resume();
    return true;
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

  private peakFor(s: RunSettings): Peak | null {
    return s.peakTflops !== null ? userPeak(s.peakTflops) : this.defaultPeak();
  }

  // ---- analysis ----

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
    const model = await this.out.tracked('loading the reference', (p) =>
      Model.create(gpu, ref.config, (n) => ref.read(n), p),
    );
    try {
      const valLoss = await this.out.tracked('reference validation loss', (p) =>
        validationLoss(model, corpus.val, ctx, windows, { onProgress: p }),
      );
      this.out.emit({ type: 'reference-val', valLoss, ctx, windows });
      const B = Math.min(4, windows);
      const { inputs } = validationWindows(corpus.val, ctx, B);
      const report = await this.out.tracked('attention rank per layer', (p) =>
        analyzeAttention(model, inputs, B, ctx, p),
      );
      this.out.emit({ type: 'analysis', report });
    } finally {
      model.dispose();
    }
  }

  // ---- runs ----

  private newSession(peak: Peak | null): Session {
    const { corpus } = this.inputs.need();
    this.stopMode = null;
    this.models.reset();
    this.session = new Session({
      gpu: this.requireGpu(),
      emitter: this.out,
      folder: this.runFolder(),
      models: this.models,
      peak,
      data: { train: corpus.train, val: corpus.val },
      shouldStop: () => this.stopMode !== null,
    });
    return this.session;
  }

  private runFolder(): RunFolder<SavedRunInfo> {
    if (!this.folder)
      throw new EngineError('storage', 'There is no run folder (this browser has no origin-private file system).');
    return this.folder;
  }

  /** Takes the run folder for this tab's run, or says that another tab's run has it. */
  private async claimRun(): Promise<void> {
    if (this.releaseRun || !this.env.claimRun) return;
    const release = await this.env.claimRun();
    if (!release)
      throw new EngineError(
        'not-allowed',
        'A run is under way in another tab of Inheritune Studio, and the app keeps one run (its checkpoints) per browser profile: finish, stop or close it there first.',
      );
    this.releaseRun = release;
  }

  /** Starts a run on the loaded inputs; `afterDemo`: the demo's reference has just been trained for it. */
  private async start(s: RunSettings, afterDemo = false): Promise<void> {
    const { ref } = this.inputs.need();
    await this.claimRun();
    await this.inputs.encodeFor(ref.tokenizer);
    const { corpus } = this.inputs.need();
    const context = {
      reference: {
        layers: ref.config.layers,
        positions: ref.config.positions,
        widestActivation: ref.info.widestActivation,
      },
      corpus: { train: corpus.train.length, val: corpus.val.length },
      limits: this.requireGpu().limits,
    };
    assertValid(checkRunSettings(s, context));
    await this.ensureFolder();
    const session = this.newSession(this.peakFor(s));
    this.move(afterDemo ? 'demo-trained' : 'start', `inheriting ${s.n} of ${ref.config.layers} blocks`);
    await this.finishRun(async () => {
      const info = { reference: ref.info.label, corpus: corpus.info.label, settings: s };
      const saved: SavedRunInfo = {
        ...info,
        phase: 'inheritune',
        round: 0,
        n: s.n,
        step: 0,
        savedAt: new Date().toISOString(),
      };
      await this.out.tracked('saving the reference for resuming', (p) =>
        this.runFolder().begin(
          ref,
          { ids: corpus.tokens, tokenizer: corpus.tokenizer },
          { ...saved, refInfo: ref.info },
          p,
        ),
      );
      return session.runPipeline(ref, inherituneSettings(s), saved);
    });
  }

  private async demo(d: DemoSettings, s: RunSettings): Promise<void> {
    const gpu = this.requireGpu();
    assertValid(checkDemo(d, gpu.limits));
    // The demo's reference is a GPT-2 over GPT-2's BPE.
    const config = demoConfig(d, s, gpt2Bpe.vocabSize);
    await this.claimRun();
    if (!this.inputs.corpus) await this.inputs.loadCorpus(null);
    await this.inputs.encodeFor(gpt2Bpe);
    const { corpus } = this.inputs;
    // Checked before the reference trains, not after.
    assertValid(
      checkRunSettings(s, {
        ...demoContext(d, s),
        corpus: { train: corpus!.train.length, val: corpus!.val.length },
        limits: gpu.limits,
      }),
    );
    await this.ensureFolder();
    const session = this.newSession(this.peakFor(s));
    this.move('demo', `training a ${d.layers}-block reference (width ${d.width}) for ${d.steps} steps`);
    let params: Map<string, Float32Array> | null;
    try {
      params = await session.trainDemoReference(config, d, s.evalWindows);
    } catch (e) {
      this.move('ended:halted', (e as Error).message);
      throw e;
    }
    if (!params) {
      this.move('ended:stopped', 'the demo reference was stopped before it finished');
      return;
    }
    const family = familyOf(config);
    const label = `demo reference (${d.layers} blocks × ${d.width}, trained here for ${d.steps} steps)`;
    const info: ReferenceInfo = referenceInfo(config, label, 'demo', null, family);
    this.inputs.setDemoReference(config, params, info);
    await this.start(s, true);
  }

  /** The run folder must exist to run (a browser without OPFS gets one in memory: the run cannot survive a reload). */
  private async ensureFolder(): Promise<void> {
    if (this.folder) return;
    const { memoryStore } = await import('../train/memory-store');
    this.fail(
      'storage',
      new EngineError(
        'storage',
        'This browser has no origin-private file system: the run works, but a reload cannot resume it.',
      ),
    );
    this.folder = new RunFolder(memoryStore());
  }

  private async resume(): Promise<void> {
    await this.claimRun();
    if (!this.folder) throw new EngineError('no-model', 'There is no saved run to resume.');
    const folder = this.folder;
    if (this.stage === 'paused' && this.session && this.inputs.ref) {
      const info = await folder.info();
      if (!info)
        throw new EngineError('storage', 'The paused run lost its description in the run folder; start again.');
      const session = this.session;
      this.stopMode = null;
      this.models.reset();
      this.move('resume', 'resumed');
      await this.finishRun(() => session.runPipeline(this.inputs.ref!, null, info));
      return;
    }
    // After a reload: the reference and tokens come back from the run folder.
    const saved = await folder.saved();
    if (!saved) throw new EngineError('no-model', 'There is no saved run to resume.');
    const inputs = await folder.inputs();
    const info = await folder.info();
    if (!inputs || !info)
      throw new EngineError(
        'storage',
        'The saved run is incomplete (its reference or tokens are missing); discard it and start again.',
      );
    const meta = info as SavedRunInfo & { refInfo: ReferenceInfo };
    await this.inputs.restore(inputs, meta.refInfo, meta.corpus);
    const session = this.newSession(this.peakFor(meta.settings));
    const old = await folder.readLog<LogEntry>();
    if (old.length) session.replay(old, meta.settings);
    this.move('resume', `resumed from the checkpoint of ${saved.savedAt}`);
    await this.finishRun(() => session.runPipeline(this.inputs.ref!, null, meta));
  }

  /** Runs a pipeline to its end and moves the stage by how it ended. */
  private async finishRun(run: () => Promise<PipelineResult>): Promise<void> {
    try {
      const result = await run();
      const status = result.report.status;
      this.models.runEnded(result.final);
      this.hasLog = true;
      if (status === 'done') {
        const f = result.report.final;
        this.move(
          'ended:done',
          f
            ? `${f.matched ? 'matched' : 'did not match'} the reference with ${f.n} of ${result.report.reference.layers} blocks`
            : undefined,
        );
        await this.folder?.finish(); // a finished run is not offered for resuming
      } else if (status === 'halted')
        this.move('ended:halted', 'a step produced a non-finite loss or gradient; see the log');
      else this.move(this.stopMode === 'stop' ? 'ended:stopped' : 'ended:paused');
      this.out.emit({ type: 'saved', saved: (await this.folder?.saved()) ?? null });
      await this.emitModels();
    } catch (e) {
      this.models.runEnded(null);
      const lost = isDeviceLoss(e) ? e : isDeviceLoss(this.gpu?.error) ? this.gpu!.error : null;
      if (lost && (await this.recover(lost))) return;
      this.move('ended:halted', (e as Error).message);
      throw e;
    }
  }

  private requestStop(mode: 'pause' | 'stop'): void {
    if (this.stage === 'demo-reference' && mode === 'pause')
      throw new EngineError(
        'not-allowed',
        'The demo reference cannot be paused: it is saved only once trained. Stop ends it (its training is lost).',
      );
    const next = nextStage(this.stage, mode);
    if (!next) return; // nothing to pause or stop
    if (next === 'stopped') {
      this.move('stop'); // a paused run, ended for good
      return;
    }
    // A pause under way becomes a stop; a stop stays one.
    this.stopMode = mode === 'stop' || this.stopMode === 'stop' ? 'stop' : 'pause';
    this.move(
      mode,
      this.stopMode === 'pause' ? 'saving a checkpoint at the next update' : 'stopping at the next update',
    );
  }

  private async discardSaved(): Promise<void> {
    if (this.task) throw new EngineError('busy', 'A run is under way.');
    await this.claimRun(); // never delete the files of a run another tab is training
    try {
      await this.folder?.discard();
    } finally {
      this.releaseRunIfIdle();
    }
    this.hasLog = !!this.session?.log.length;
    this.out.emit({ type: 'saved', saved: null });
    await this.emitModels();
  }

  // ---- sampling and export ----

  private async sample(prompt: string, tokens: number, temperature: number, topK: number): Promise<void> {
    try {
      await sampleText(this.out, this.models, this.requireGpu(), { prompt, tokens, temperature, topK });
    } catch (e) {
      this.out.emit({ type: 'sample', text: '', done: true });
      throw e;
    }
  }

  private async export(what: 'model' | 'log-json' | 'log-csv'): Promise<void> {
    // After a reload no session exists until a resume: the last run's log is still in the run folder.
    const log = async () =>
      this.session?.log.length ? this.session.log : ((await this.folder?.readLog<LogEntry>()) ?? []);
    const files = await exportFiles(this.out, this.models, what, log);
    this.out.emit({ type: 'export', files });
  }
}

/** The engine wired to the browser: navigator.gpu, the bundled corpus, OPFS. */
export function browserEnv(): EngineEnv {
  return {
    acquire: () => acquireDevice(navigator.gpu, 'browser'),
    demoCorpus: async () => {
      const r = await fetch(new URL('/tinyshakespeare.txt', self.location.origin));
      if (!r.ok) throw new Error(`The demo corpus could not be loaded (HTTP ${r.status}).`);
      return r.text();
    },
    runStore: async () =>
      typeof navigator.storage?.getDirectory === 'function'
        ? (await import('../train/opfs-store')).opfsStore('inheritune-run')
        : null,
    claimRun: () =>
      new Promise((resolve, reject) => {
        if (!navigator.locks) return resolve(() => undefined); // no Web Locks: nothing to coordinate with
        // The lock is held until the returned release is called (the callback's promise settles then).
        navigator.locks
          .request('inheritune-run', { ifAvailable: true }, (lock) => {
            if (!lock) return resolve(null);
            return new Promise<void>((release) => resolve(() => release()));
          })
          .catch(reject);
      }),
  };
}
