// The engine behind the worker: owns the GPU, the loaded reference and corpus, and the session, and answers every
// protocol command with events. Environment-specific pieces (where the GPU, the demo corpus and the run folder come
// from) are injected, so the same engine runs in the browser's worker and in Node tests.

import { acquireDevice, type Acquired } from '../gpu/device';
import { GpuDeviceError } from '../gpu/errors';
import { Gpu } from '../gpu/runtime';
import { exportGpt2, openGpt2Checkpoint, type Gpt2Checkpoint } from '../io/checkpoint';
import { decodeText, splitTokens, validationWindows } from '../io/corpus';
import { blobSource } from '../io/safetensors';
import { decodeGpt2, encodeGpt2, GPT2_VOCAB } from '../io/tokenizer';
import { analyzeAttention } from '../inheritune/analyze';
import type { ReadParam } from '../inheritune/inherit';
import { FINAL_FILE, readFinal, type PipelineResult, type PipelineState } from '../inheritune/pipeline';
import type { Gpt2Config } from '../model/config';
import { Gpt2Model } from '../model/gpt2';
import { paramCount, paramSpecs } from '../model/params';
import { generate } from '../model/sample';
import { validationLoss } from '../train/evaluate';
import { measureMatmulPeak, peakFromTable, userPeak, type Peak } from '../train/mfu';
import { openSnapshot, SNAPSHOT_FILE, type RunStore } from '../train/snapshot';
import { Rng } from '../util/rng';
import { Emitter } from './emitter';
import type {
  Command,
  CorpusInfo,
  DemoSettings,
  ErrorScope,
  ReferenceInfo,
  RunSettings,
  SavedRunInfo,
  Stage,
  WorkerEvent,
} from './protocol';
import { logCsv, readJson, RUN_FILES, Session, type LogEntry } from './session';
import { demoConfig, inherituneSettings } from './settings';

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

/** Stages in which the engine no longer owns a run (a paused run is still owned: its tab may resume it). */
const UNCLAIMED_STAGES: readonly Stage[] = ['idle', 'done', 'stopped', 'halted'];

/** Refuse corpora whose tokens would not fit in memory comfortably (uint16 stream + the text itself). */
const MAX_CORPUS_BYTES = 1 << 30;

interface Reference {
  config: Gpt2Config;
  read: ReadParam;
  info: ReferenceInfo;
  /** The user's file (kept to copy into the run folder); null for the demo's reference. */
  file: Blob | null;
  params: Map<string, Float32Array> | null;
}

interface Corpus {
  tokens: Uint16Array;
  train: Uint16Array;
  val: Uint16Array;
  info: CorpusInfo;
}

/** Device losses the engine recovers from on its own (each re-acquires the GPU and resumes from the last snapshot). */
export const MAX_RECOVERIES = 2;

function isDeviceLoss(e: unknown): e is GpuDeviceError {
  return e instanceof GpuDeviceError && e.kind === 'lost';
}

export class Engine {
  private readonly out: Emitter;
  private gpu: Gpu | null = null;
  private tablePeak: Peak | null = null;
  private measuredPeak: Peak | null = null;
  private peakMeasuredByUser = false;
  private ref: Reference | null = null;
  private configJson: string | null = null;
  private corpus: Corpus | null = null;
  private session: Session | null = null;
  private store: RunStore | null = null;
  /** The exclusive task under way (loading, analysing, training), for "busy" messages. */
  private task: string | null = null;
  private readonly loads = new Set<'checkpoint' | 'corpus'>();
  private stage: Stage = 'idle';
  private stopMode: 'pause' | 'stop' | null = null;
  /** The last finished model's parameters (export and sampling after a run). */
  private finished: { config: Gpt2Config; params: Map<string, Float32Array> } | null = null;
  /** A model made for sampling when none trains (dropped whenever a run starts or resumes: it may be stale then). */
  private sampleModel: Gpt2Model | null = null;
  /** What sampleModel was made from: the session's grown model, or what currentParams gave without one ('saved'). */
  private sampleFrom: Session['grown'] | 'saved' = null;
  /** Device losses recovered from since the engine started. */
  private recoveries = 0;
  /** Releases this engine's claim on the run folder (EngineEnv.claimRun); null when it holds none. */
  private releaseRun: (() => void) | null = null;

  constructor(
    post: (e: WorkerEvent) => void,
    private readonly env: EngineEnv,
  ) {
    this.out = new Emitter(post);
  }

  async handle(cmd: Command): Promise<void> {
    try {
      switch (cmd.type) {
        case 'init':
          return await this.init();
        case 'load-checkpoint':
          return await this.loading('checkpoint', () => this.loadCheckpoint(cmd.files));
        case 'load-corpus':
          return await this.loading('corpus', () => this.loadCorpus(cmd.file));
        case 'analyze':
          return await this.exclusive('analysing the reference', 'analyze', () => this.analyze(cmd.ctx, cmd.windows));
        case 'measure-peak':
          return await this.exclusive('measuring the matmul peak', 'gpu', () => this.measurePeak());
        case 'start':
          return await this.exclusive('training', 'run', () => this.start(cmd.settings));
        case 'demo':
          return await this.exclusive('training', 'run', () => this.demo(cmd.demo, cmd.settings));
        case 'resume':
          return await this.exclusive('training', 'run', () => this.resume());
        case 'pause':
        case 'stop':
          return this.requestStop(cmd.type);
        case 'discard-saved':
          return await this.discardSaved();
        case 'sample':
          return await this.sample(cmd.prompt, cmd.tokens, cmd.temperature, cmd.topK);
        case 'export':
          return await this.export(cmd.what);
      }
    } catch (e) {
      this.fail('gpu', e);
    }
  }

  private fail(scope: ErrorScope, e: unknown): void {
    this.out.emit({ type: 'error', scope, message: e instanceof Error ? e.message : String(e) });
  }

  private setStage(stage: Stage, detail?: string): void {
    this.stage = stage;
    this.releaseRunIfIdle();
    this.out.emit({ type: 'stage', stage, ...(detail ? { detail } : {}) });
  }

  /** Gives the run folder back once this engine has no run in it (ended, or a start that failed before running). */
  private releaseRunIfIdle(): void {
    if (this.releaseRun && UNCLAIMED_STAGES.includes(this.stage)) {
      this.releaseRun();
      this.releaseRun = null;
    }
  }

  private async exclusive(what: string, scope: ErrorScope, fn: () => Promise<void>): Promise<void> {
    if (this.task) {
      this.out.emit({
        type: 'error',
        scope,
        message: `Busy ${this.task}: wait for it to finish${this.task === 'training' ? ', or pause or stop the run' : ''}.`,
      });
      return;
    }
    if (!this.gpu) {
      this.out.emit({ type: 'error', scope, message: 'The GPU engine is not ready (no WebGPU device).' });
      return;
    }
    if (this.loads.size) {
      this.out.emit({
        type: 'error',
        scope,
        message: `Still loading the ${[...this.loads].join(' and ')}: wait for it to finish.`,
      });
      return;
    }
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

  /** Tells the UI what the engine is doing, so it can hold back what would be refused. */
  private emitBusy(): void {
    this.out.emit({ type: 'busy', task: this.task, loads: [...this.loads] });
  }

  /** A checkpoint and a corpus load side by side (a user drops both at once); two of the same kind do not. */
  private async loading(kind: 'checkpoint' | 'corpus', fn: () => Promise<void>): Promise<void> {
    if (this.loads.has(kind)) {
      this.out.emit({
        type: 'error',
        scope: kind,
        message: `Still loading the previous ${kind}: wait for it to finish.`,
      });
      return;
    }
    if (this.task) {
      // An analysis would report on the new input with the old one's figures; a run or the demo reads its inputs.
      this.out.emit({
        type: 'error',
        scope: kind,
        message: `Busy ${this.task}: load the ${kind} once it has finished.`,
      });
      return;
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
    if (!this.gpu) throw new Error('The GPU engine is not ready (no WebGPU device).');
    if (this.gpu.error)
      throw new Error(
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
      this.store = await this.env.runStore();
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
    this.out.emit({
      type: 'ready',
      peak: this.tablePeak ?? this.measuredPeak,
      saved: await this.savedRun(),
      adapter: {
        name: d.description || [d.vendor, d.architecture, d.device].filter(Boolean).join(' ') || 'unnamed adapter',
        vendor: d.vendor,
        architecture: d.architecture,
        features: d.features,
        maxStorageBufferBindingSize: d.limits.maxStorageBufferBindingSize ?? 0,
        maxBufferSize: d.limits.maxBufferSize ?? 0,
        timestamps: gpu.hasTimestamps,
      },
    });
  }

  /** Makes `acquired` the engine's GPU, reporting its fatal errors (a lost device during a run is recovered instead). */
  private adopt(acquired: Acquired): Gpu {
    const gpu = new Gpu(acquired);
    this.gpu = gpu;
    gpu.onError((e) => {
      if (isDeviceLoss(e) && this.stage === 'running') return; // finishRun re-acquires and resumes
      this.out.emit({
        type: 'error',
        scope: 'gpu',
        message: `${e.message}. The run stopped; reload the page to resume from the last checkpoint.`,
      });
    });
    return gpu;
  }

  /**
   * After the GPU device was lost mid-run (a driver reset, the GPU process restarting): acquires a new device and
   * resumes the run from its last snapshot in the run folder, as a reload would. At most MAX_RECOVERIES times a run.
   */
  private async recover(lost: Error): Promise<boolean> {
    if (this.recoveries >= MAX_RECOVERIES || !(await this.savedRun())) return false;
    this.recoveries++;
    this.out.emit({
      type: 'error',
      scope: 'gpu',
      message: `${lost.message}. Acquiring a new GPU device and resuming from the last checkpoint (recovery ${this.recoveries} of ${MAX_RECOVERIES}).`,
    });
    this.session = null;
    this.sampleModel = null; // it lived on the lost device
    try {
      this.adopt(await this.env.acquire());
    } catch (e) {
      this.out.emit({
        type: 'error',
        scope: 'gpu',
        message: `No GPU device could be acquired after the loss (${(e as Error).message}); reload the page to resume from the last checkpoint.`,
      });
      return false;
    }
    await this.resume();
    return true;
  }

  private async measurePeak(): Promise<void> {
    this.out.emit({ type: 'progress', task: 'measuring the matmul peak', done: 0, total: 1 });
    try {
      this.measuredPeak = await measureMatmulPeak(this.requireGpu());
      this.peakMeasuredByUser = true; // asked for: it replaces the device table's figure
    } finally {
      this.out.end('measuring the matmul peak');
    }
    this.out.emit({ type: 'peak', peak: this.defaultPeak() });
  }

  /** The peak MFU is measured against when the form leaves it empty: one the user measured, else the table's. */
  private defaultPeak(): Peak | null {
    return this.peakMeasuredByUser ? this.measuredPeak : (this.tablePeak ?? this.measuredPeak);
  }

  private peakFor(s: RunSettings): Peak | null {
    return s.peakTflops !== null ? userPeak(s.peakTflops) : this.defaultPeak();
  }

  // ---- inputs ----

  private refuseDuringRun(what: string): void {
    if (this.stage === 'running' || this.stage === 'pausing' || this.stage === 'demo-reference') {
      throw new Error(`A run is under way: pause or stop it before loading another ${what}.`);
    }
  }

  private async loadCheckpoint(files: File[]): Promise<void> {
    this.refuseDuringRun('checkpoint');
    const json = files.filter((f) => /\.json$/i.test(f.name));
    const weights = files.filter((f) => !/\.json$/i.test(f.name));
    if (!files.length) throw new Error('No file was given.');
    if (json.length > 1 || weights.length > 1)
      throw new Error(
        `Drop one model.safetensors and at most one config.json (got ${files.map((f) => f.name).join(', ')}).`,
      );
    const other = weights.find((f) => !/\.safetensors$/i.test(f.name));
    if (other)
      throw new Error(
        `${other.name} is not a checkpoint: drop a Hugging Face model.safetensors (and optionally its config.json). PyTorch .bin/.pt files are not read; convert them with safetensors first.`,
      );
    if (json[0]) {
      if (json[0].size > 1 << 20)
        throw new Error(`${json[0].name} is ${json[0].size} bytes: too large for a config.json.`);
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
    let ckpt: Gpt2Checkpoint;
    try {
      ckpt = await openGpt2Checkpoint(blobSource(file), { configJson: this.configJson ?? undefined, label: file.name });
    } catch (e) {
      // A config.json that does not fit this model is dropped, so the next model dropped is not judged by it.
      if (this.configJson && /config\.json/.test((e as Error).message)) this.configJson = null;
      const message = (e as Error).message;
      throw new Error(message.startsWith(file.name) ? message : `${file.name}: ${message}`);
    } finally {
      this.out.end('reading the checkpoint');
    }
    if (ckpt.config.vocabSize !== GPT2_VOCAB) {
      throw new Error(
        `${file.name} has a vocabulary of ${ckpt.config.vocabSize} tokens; Inheritune Studio tokenizes with GPT-2's BPE (${GPT2_VOCAB} tokens), so the reference must use it too.`,
      );
    }
    const dtypes = [...new Set([...ckpt.file.tensors.values()].map((t) => t.dtype))].join('/');
    const c = ckpt.config;
    const info: ReferenceInfo = {
      label: file.name,
      layers: c.nLayer,
      width: c.nEmbd,
      heads: c.nHead,
      positions: c.nPositions,
      vocab: c.vocabSize,
      params: paramCount(c),
      dtype: dtypes,
      bytes: file.size,
      origin: 'file',
    };
    this.ref = { config: c, read: (n) => ckpt.read(n), info, file, params: null };
    this.out.emit({ type: 'reference', info });
  }

  private async loadCorpus(file: File | null): Promise<void> {
    this.refuseDuringRun('corpus');
    let text: string;
    let label: string;
    if (file) {
      label = file.name;
      if (file.size > MAX_CORPUS_BYTES)
        throw new Error(
          `${file.name} is ${(file.size / 2 ** 30).toFixed(1)} GiB; corpora up to 1 GiB are supported in the browser (use the CLI for more).`,
        );
      text = decodeText(new Uint8Array(await file.arrayBuffer()), file.name);
    } else {
      label = 'tinyshakespeare.txt (built-in demo corpus)';
      text = await this.env.demoCorpus();
    }
    const tokens = await this.out.tracked('tokenizing', (p) => encodeGpt2(text, p));
    if (tokens.length < 100)
      throw new Error(
        `${label} has only ${tokens.length} tokens: too short to train and validate on (its last 10% is the validation split).`,
      );
    const { train, val } = splitTokens(tokens);
    const info: CorpusInfo = { label, chars: text.length, tokens: tokens.length, train: train.length, val: val.length };
    this.corpus = { tokens, train, val, info };
    this.out.emit({ type: 'corpus', info });
  }

  private need(): { ref: Reference; corpus: Corpus } {
    if (!this.ref) throw new Error('Drop a reference checkpoint (model.safetensors) first, or start the demo.');
    if (!this.corpus) throw new Error('Drop a text corpus (.txt) first, or start the demo.');
    return { ref: this.ref, corpus: this.corpus };
  }

  private async analyze(ctx: number, windows: number): Promise<void> {
    const { ref, corpus } = this.need();
    const gpu = this.requireGpu();
    if (!Number.isInteger(ctx) || ctx < 1 || ctx > ref.config.nPositions)
      throw new Error(`context must be from 1 to the reference's ${ref.config.nPositions} positions, got ${ctx}`);
    validationWindows(corpus.val, ctx, windows); // throws naming how many windows fit
    const model = await this.out.tracked('loading the reference', (p) =>
      Gpt2Model.create(gpu, ref.config, (n) => ref.read(n), p),
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

  private newSession(store: RunStore, peak: Peak | null): Session {
    const corpus = this.corpus;
    if (!corpus) throw new Error('Drop a text corpus (.txt) first, or start the demo.');
    this.stopMode = null;
    this.finished = null;
    this.disposeSampleModel();
    this.session = new Session({
      gpu: this.requireGpu(),
      emitter: this.out,
      store,
      peak,
      data: { tokens: corpus.tokens, train: corpus.train, val: corpus.val },
      shouldStop: () => this.stopMode !== null,
    });
    return this.session;
  }

  private async runStore(): Promise<RunStore> {
    if (this.store) return this.store;
    const { memoryStore } = await import('../train/memory-store');
    this.out.emit({
      type: 'error',
      scope: 'storage',
      message: 'This browser has no origin-private file system: the run works, but a reload cannot resume it.',
    });
    this.store = memoryStore();
    return this.store;
  }

  /** Takes the run folder for this tab's run, or says that another tab's run has it. */
  private async claimRun(): Promise<void> {
    if (this.releaseRun || !this.env.claimRun) return;
    const release = await this.env.claimRun();
    if (!release)
      throw new Error(
        'A run is under way in another tab of Inheritune Studio, and the app keeps one run (its checkpoints) per browser profile: finish, stop or close it there first.',
      );
    this.releaseRun = release;
  }

  private async start(s: RunSettings): Promise<void> {
    const { ref, corpus } = this.need();
    await this.claimRun();
    const settings = inherituneSettings(s, ref.config, corpus.val.length, this.gpu!.limits);
    const store = await this.runStore();
    const session = this.newSession(store, this.peakFor(s));
    this.setStage('running', `inheriting ${s.n} of ${ref.config.nLayer} blocks`);
    await this.finishRun(async () => {
      const info = { reference: ref.info.label, corpus: corpus.info.label, settings: s };
      await session.persistInputs({ config: ref.config, file: ref.file, params: ref.params }, info, ref.info);
      return session.runPipeline(ref, settings, {
        ...info,
        phase: 'inheritune',
        round: 0,
        n: s.n,
        step: 0,
        savedAt: new Date().toISOString(),
      });
    });
  }

  private async demo(d: DemoSettings, s: RunSettings): Promise<void> {
    const config = demoConfig(d, s.ctx, GPT2_VOCAB, this.gpu!.limits);
    await this.claimRun();
    if (!this.corpus) await this.loadCorpus(null);
    const corpus = this.corpus!;
    inherituneSettings(s, config, corpus.val.length, this.gpu!.limits); // fail before training the reference, not after
    const store = await this.runStore();
    const session = this.newSession(store, this.peakFor(s));
    this.setStage('demo-reference', `training a ${d.layers}-block reference (width ${d.width}) for ${d.steps} steps`);
    const params = await session.trainDemoReference(config, d, s.evalWindows).catch((e) => {
      this.setStage('halted', (e as Error).message);
      throw e;
    });
    if (!params) {
      this.setStage('stopped', 'the demo reference was stopped before it finished');
      return;
    }
    const info: ReferenceInfo = {
      label: `demo reference (${d.layers} blocks × ${d.width}, trained here for ${d.steps} steps)`,
      layers: config.nLayer,
      width: config.nEmbd,
      heads: config.nHead,
      positions: config.nPositions,
      vocab: config.vocabSize,
      params: paramCount(config),
      dtype: 'F32',
      bytes: 4 * paramCount(config),
      origin: 'demo',
    };
    this.ref = { config, read: async (n) => params.get(n)!, info, file: null, params };
    this.out.emit({ type: 'reference', info });
    await this.start(s);
  }

  private async resume(): Promise<void> {
    await this.claimRun();
    if (this.stage === 'paused' && this.session && this.ref) {
      const meta = await readJson<SavedRunInfo>(await this.runStore(), RUN_FILES.info);
      const session = this.session;
      this.stopMode = null;
      this.setStage('running', 'resumed');
      await this.finishRun(() => session.runPipeline(this.ref!, null, meta));
      return;
    }
    // After a reload: the reference and tokens come back from the run folder.
    const store = this.store;
    const saved = await this.savedRun();
    if (!store || !saved) throw new Error('There is no saved run to resume.');
    const meta = await readJson<SavedRunInfo & { refInfo: ReferenceInfo }>(store, RUN_FILES.info);
    const src = await store.open(RUN_FILES.reference);
    const tokSrc = await store.open(RUN_FILES.tokens);
    const cfg = await store.open(RUN_FILES.config);
    if (!meta || !src || !tokSrc || !cfg)
      throw new Error('The saved run is incomplete (its reference or tokens are missing); discard it and start again.');
    const ckpt = await openGpt2Checkpoint(src, {
      configJson: new TextDecoder().decode(await cfg.read(0, cfg.size)),
      label: meta.reference,
    });
    const bytes = await tokSrc.read(0, tokSrc.size);
    const tokens = new Uint16Array(bytes.slice().buffer);
    const { train, val } = splitTokens(tokens);
    this.ref = { config: ckpt.config, read: (n) => ckpt.read(n), info: meta.refInfo, file: null, params: null };
    this.corpus = {
      tokens,
      train,
      val,
      info: { label: meta.corpus, chars: 0, tokens: tokens.length, train: train.length, val: val.length },
    };
    this.out.emit({ type: 'reference', info: meta.refInfo });
    this.out.emit({ type: 'corpus', info: this.corpus.info });
    const session = this.newSession(store, this.peakFor(meta.settings));
    const old = await readJson<Record<string, unknown>[]>(store, RUN_FILES.log);
    if (old) session.replay(old as typeof session.log, meta.settings);
    this.setStage('running', `resumed from the checkpoint of ${saved.savedAt}`);
    await this.finishRun(() => session.runPipeline(this.ref!, null, meta));
  }

  /** Runs a pipeline to its end and sets the stage from how it ended. */
  private async finishRun(run: () => Promise<PipelineResult>): Promise<void> {
    this.disposeSampleModel(); // it was made from a paused run's snapshot or an earlier run's model
    try {
      const result = await run();
      const status = result.report.status;
      if (result.final) this.finished = result.final;
      if (status === 'done') {
        const f = result.report.final;
        this.setStage(
          'done',
          f
            ? `${f.matched ? 'matched' : 'did not match'} the reference with ${f.n} of ${result.report.reference.layers} blocks`
            : undefined,
        );
        await this.store?.remove(RUN_FILES.info); // a finished run is not offered for resuming
      } else if (status === 'halted')
        this.setStage('halted', 'a step produced a non-finite loss or gradient; see the log');
      else this.setStage(this.stopMode === 'stop' ? 'stopped' : 'paused');
      this.out.emit({ type: 'saved', saved: await this.savedRun() });
    } catch (e) {
      const lost = isDeviceLoss(e) ? (e as Error) : isDeviceLoss(this.gpu?.error) ? this.gpu!.error! : null;
      if (lost && (await this.recover(lost))) return;
      this.setStage('halted', (e as Error).message);
      throw e;
    }
  }

  private requestStop(mode: 'pause' | 'stop'): void {
    if (this.stage === 'paused' && mode === 'stop') {
      this.setStage('stopped');
      return;
    }
    if (this.stage === 'pausing' && mode === 'stop') {
      this.stopMode = 'stop'; // a pause under way becomes a stop
      this.setStage('pausing', 'stopping at the next update');
      return;
    }
    if (this.stage === 'demo-reference' && mode === 'pause') {
      throw new Error(
        'The demo reference cannot be paused: it is saved only once trained. Stop ends it (its training is lost).',
      );
    }
    if (this.stage !== 'running' && this.stage !== 'demo-reference') return;
    this.stopMode = mode;
    this.setStage(
      'pausing',
      mode === 'pause' ? 'saving a checkpoint at the next update' : 'stopping at the next update',
    );
  }

  private async savedRun(): Promise<SavedRunInfo | null> {
    if (!this.store) return null;
    try {
      const info = await readJson<SavedRunInfo>(this.store, RUN_FILES.info);
      const state = await this.store.open(SNAPSHOT_FILE);
      await state?.close?.();
      return info && state ? info : null;
    } catch {
      return null;
    }
  }

  private async discardSaved(): Promise<void> {
    if (this.task) throw new Error('A run is under way.');
    await this.claimRun(); // never delete the files of a run another tab is training
    try {
      if (this.store)
        for (const name of [...Object.values(RUN_FILES), SNAPSHOT_FILE, FINAL_FILE]) await this.store.remove(name);
    } finally {
      this.releaseRunIfIdle();
    }
    this.out.emit({ type: 'saved', saved: null });
  }

  // ---- sampling and export ----

  /**
   * The model to sample or export: the grown one once the Inheritune rounds have ended (also while the baseline
   * trains), else the one training now, the finished one, or the last snapshot's (the grown model kept beside it when
   * that snapshot is the baseline's).
   */
  private async currentParams(): Promise<{ config: Gpt2Config; params: Map<string, Float32Array> } | null> {
    if (this.session?.grown) return this.session.grown;
    const live = this.session?.live;
    if (live) return { config: live.config, params: await live.toHost() }; // says so if the model was just replaced
    if (this.finished) return this.finished;
    if (!this.store) return null;
    const snap = await openSnapshot<PipelineState>(this.store);
    if (!snap) return null;
    try {
      if (snap.meta.extra?.finalSaved) {
        // The baseline has the grown model's architecture.
        const params = await readFinal(this.store);
        if (params) return { config: snap.meta.config, params };
      }
      const params = new Map<string, Float32Array>();
      for (const p of paramSpecs(snap.meta.config)) params.set(p.name, await snap.file.readF32(`param:${p.name}`));
      return { config: snap.meta.config, params };
    } finally {
      await snap.close();
    }
  }

  private disposeSampleModel(): void {
    this.sampleModel?.dispose();
    this.sampleModel = null;
    this.sampleFrom = null;
  }

  private async sample(prompt: string, tokens: number, temperature: number, topK: number): Promise<void> {
    try {
      if (!Number.isInteger(tokens) || tokens < 1 || tokens > 1000)
        throw new Error(`tokens to sample must be from 1 to 1000, got ${tokens}`);
      const gpu = this.requireGpu();
      // The grown model once the rounds have ended (the baseline may be training), else the one training now.
      const grown = this.session?.grown ?? null;
      let model = grown ? null : (this.session?.live ?? null);
      if (!model) {
        if (this.sampleFrom !== (grown ?? 'saved')) this.disposeSampleModel();
        if (!this.sampleModel) {
          const cur = await this.currentParams();
          if (!cur) throw new Error('There is no trained model to sample from yet: start a run (or the demo) first.');
          this.sampleModel = await Gpt2Model.create(gpu, cur.config, (n) => cur.params.get(n)!);
          this.sampleFrom = grown ?? 'saved';
        }
        model = this.sampleModel;
      }
      const ids = prompt ? Array.from(await encodeGpt2(prompt)) : [50256];
      const rng = new Rng((Date.now() & 0x7fffffff) >>> 0);
      let shown = 0;
      const out: number[] = [];
      await generate(model, ids, tokens, { temperature, topK }, rng, (id) => {
        out.push(id);
        const text = decodeGpt2(out);
        // Hold back a trailing partial UTF-8 character (decoded as U+FFFD) until its next byte arrives.
        const safe = text.endsWith('\uFFFD') ? text.length - 1 : text.length;
        if (safe > shown) {
          this.out.emit({ type: 'sample', text: text.slice(shown, safe), done: false });
          shown = safe;
        }
      }).catch((e) => {
        if (/disposed|no parameter|destroyed/i.test((e as Error).message))
          throw new Error('The model grew while sampling; sample again.');
        throw e;
      });
      const text = decodeGpt2(out);
      this.out.emit({ type: 'sample', text: text.slice(shown), done: true });
    } catch (e) {
      this.out.emit({ type: 'sample', text: '', done: true });
      this.fail('sample', e);
    }
  }

  /** The log the last run saved in the run folder (empty if none, or if it cannot be read). */
  private async savedLog(): Promise<LogEntry[]> {
    if (!this.store) return [];
    const log = await readJson<LogEntry[]>(this.store, RUN_FILES.log).catch(() => null);
    return Array.isArray(log) ? log : [];
  }

  private async export(what: 'model' | 'log-json' | 'log-csv'): Promise<void> {
    try {
      if (what !== 'model') {
        // After a reload no session exists until a resume: the last run's log is still in the run folder.
        const log = this.session?.log.length ? this.session.log : await this.savedLog();
        if (!log.length) throw new Error('There is no run log yet: start a run first.');
        const blob =
          what === 'log-json'
            ? new Blob([JSON.stringify(log, null, 1)], { type: 'application/json' })
            : new Blob([logCsv(log)], { type: 'text/csv' });
        this.out.emit({
          type: 'export',
          files: [{ name: what === 'log-json' ? 'inheritune-log.json' : 'inheritune-log.csv', blob }],
        });
        return;
      }
      // One bar over reading the parameters back and writing the files (the two halves of the work).
      this.out.emit({ type: 'progress', task: 'exporting the model', done: 0, total: 2 });
      try {
        const cur = await this.currentParams();
        if (!cur) throw new Error('There is no trained model to export yet: start a run (or the demo) first.');
        this.out.emit({ type: 'progress', task: 'exporting the model', done: 1, total: 2 });
        const { safetensors, configJson } = exportGpt2(cur.config, cur.params);
        this.out.emit({
          type: 'export',
          files: [
            { name: 'model.safetensors', blob: new Blob(safetensors, { type: 'application/octet-stream' }) },
            { name: 'config.json', blob: new Blob([configJson], { type: 'application/json' }) },
          ],
        });
      } finally {
        this.out.end('exporting the model');
      }
    } catch (e) {
      this.fail('export', e);
    }
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
