// The engine's runs: starting one (or the demo, which first trains its reference), pausing, stopping, resuming (the
// paused run, or after a reload the run folder's), recovering from a lost device, discarding a saved run. The stage
// moves only through the stage machine shared with the page (stages.ts); the run folder is claimed across tabs for as
// long as a run holds it.

import { GpuDeviceError } from '../gpu/errors';
import type { Gpu } from '../gpu/runtime';
import { gpt2Bpe } from '../io/tokenizer';
import type { PipelineResult } from '../inheritune/pipeline';
import { tokenizerOf } from '../model/checkpoint';
import { familyOf } from '../model/registry';
import { checkDemo, type DemoSettings, demoConfig, demoContext } from '../settings/demo';
import { inherituneSettings } from '../settings/engine';
import { assertValid, checkRunSettings, type RunSettings } from '../settings/schema';
import type { Peak } from '../train/peak';
import { RunFolder } from '../train/run-folder';
import type { CurrentModel } from './current-model';
import type { Emitter } from './emitter';
import type { EngineEnv } from './env';
import { EngineError } from './errors';
import { type Inputs, referenceInfo } from './inputs';
import type { ReferenceInfo, SavedRunInfo } from './protocol';
import { type LogEntry, Session } from './session';
import { canLoad, nextStage, type Stage, type StageEvent } from './stages';

/** Device losses recovered from on their own (each re-acquires the GPU and resumes from the last snapshot). */
export const MAX_RECOVERIES = 2;

const isDeviceLoss = (e: unknown): e is GpuDeviceError => e instanceof GpuDeviceError && e.kind === 'lost';

/** What the runs need from the engine. */
export interface RunHost {
  readonly out: Emitter;
  readonly inputs: Inputs;
  readonly models: CurrentModel;
  readonly env: EngineEnv;
  gpu(): Gpu;
  /** The fatal error the current device raised, if any (a lost device is recovered from). */
  gpuError(): Error | null;
  /** Replaces a lost GPU device with a new one (throws when there is none). */
  reacquire(): Promise<void>;
  peakFor(s: RunSettings): Peak | null;
  /** Reports an error the run recovers from (a notice, not a failure of the command). */
  notice(scope: 'gpu' | 'storage', e: EngineError): void;
  /** Which model Sample and Export would use may have changed. */
  modelsChanged(): void;
}

export class RunControl {
  stage: Stage = 'idle';
  /** The run folder (OPFS in the browser; in memory where there is none: a reload cannot resume then). */
  folder: RunFolder<SavedRunInfo> | null = null;
  /** A run log exists to export (this session's, or the last run's in the run folder). */
  hasLog = false;
  private session: Session | null = null;
  private stopMode: 'pause' | 'stop' | null = null;
  private recoveries = 0;
  /** Releases this engine's claim on the run folder (EngineEnv.claimRun); null when it holds none. */
  private releaseRun: (() => void) | null = null;

  constructor(private readonly host: RunHost) {}

  /** The run log to export: this session's, else the run folder's (after a reload, before any resume). */
  async log(): Promise<LogEntry[]> {
    if (this.session?.log.length) return this.session.log;
    return (await this.folder?.readLog<LogEntry>()) ?? [];
  }

  /** Moves the stage machine; an event it does not allow there is an error naming the stage. */
  private move(event: StageEvent, detail?: string): void {
    const next = nextStage(this.stage, event);
    if (!next)
      throw new EngineError(
        'not-allowed',
        `Cannot ${event.replace('ended:', 'end as ')} while the run is ${this.stage}.`,
      );
    this.stage = next;
    this.releaseIfIdle();
    this.host.out.emit({ type: 'stage', stage: next, ...(detail ? { detail } : {}) });
  }

  /** Gives the run folder back once this engine has no run in it (ended, or a start that failed before running). */
  releaseIfIdle(): void {
    if (this.releaseRun && canLoad(this.stage)) {
      this.releaseRun();
      this.releaseRun = null;
    }
  }

  /** Takes the run folder for this tab's run, or says that another tab's run has it. */
  private async claim(): Promise<void> {
    const claim = this.host.env.claimRun;
    if (this.releaseRun || !claim) return;
    const release = await claim();
    if (!release)
      throw new EngineError(
        'not-allowed',
        'A run is under way in another tab of Inheritune Studio, and the app keeps one run (its checkpoints) per browser profile: finish, stop or close it there first.',
      );
    this.releaseRun = release;
  }

  /** The run folder must exist to run (a browser without OPFS gets one in memory: the run cannot survive a reload). */
  private async ensureFolder(): Promise<RunFolder<SavedRunInfo>> {
    if (this.folder) return this.folder;
    const { memoryStore } = await import('../train/memory-store');
    this.host.notice(
      'storage',
      new EngineError(
        'storage',
        'This browser has no origin-private file system: the run works, but a reload cannot resume it.',
      ),
    );
    this.folder = new RunFolder(memoryStore());
    return this.folder;
  }

  /** A session on the loaded corpus (the demo starts one before it has a reference). */
  private newSession(peak: Peak | null, folder: RunFolder<SavedRunInfo>): Session {
    const corpus = this.host.inputs.corpus;
    if (!corpus) throw new EngineError('no-input', 'Drop a text corpus (.txt) first, or start the demo.');
    this.stopMode = null;
    this.host.models.reset();
    this.session = new Session({
      gpu: this.host.gpu(),
      emitter: this.host.out,
      folder,
      models: this.host.models,
      peak,
      data: { train: corpus.train, val: corpus.val },
      shouldStop: () => this.stopMode !== null,
    });
    return this.session;
  }

  /** Starts a run on the loaded inputs; `afterDemo`: the demo's reference has just been trained for it. */
  async start(s: RunSettings, afterDemo = false): Promise<void> {
    const { inputs } = this.host;
    const { ref } = inputs.need();
    await this.claim();
    await inputs.encodeFor(ref.tokenizer);
    const { corpus } = inputs.need();
    const reference = {
      layers: ref.config.layers,
      positions: ref.config.positions,
      widestActivation: ref.info.widestActivation,
    };
    const context = {
      reference,
      corpus: { train: corpus.train.length, val: corpus.val.length },
      limits: this.host.gpu().limits,
    };
    assertValid(checkRunSettings(s, context));
    const folder = await this.ensureFolder();
    const session = this.newSession(this.host.peakFor(s), folder);
    this.move(afterDemo ? 'demo-trained' : 'start', `inheriting ${s.n} of ${ref.config.layers} blocks`);
    await this.finish(async () => {
      const info = { reference: ref.info.label, corpus: corpus.info.label, settings: s };
      const saved: SavedRunInfo = {
        ...info,
        phase: 'inheritune',
        round: 0,
        n: s.n,
        step: 0,
        savedAt: new Date().toISOString(),
      };
      await this.host.out.tracked('saving the reference for resuming', (p) =>
        folder.begin(ref, { ids: corpus.tokens, tokenizer: corpus.tokenizer }, { ...saved, refInfo: ref.info }, p),
      );
      return session.runPipeline(ref, inherituneSettings(s), saved);
    });
  }

  /** The demo: a GPT-2 reference trained in the page on the bundled corpus, then Inheritune on it. */
  async demo(d: DemoSettings, s: RunSettings): Promise<void> {
    const { inputs } = this.host;
    const gpu = this.host.gpu();
    assertValid(checkDemo(d, gpu.limits));
    // The demo's reference is a GPT-2 over GPT-2's BPE.
    const config = demoConfig(d, s, gpt2Bpe.vocabSize);
    await this.claim();
    if (!inputs.corpus) await inputs.loadCorpus(null);
    await inputs.encodeFor(gpt2Bpe);
    const corpus = inputs.corpus!;
    // Checked before the reference trains, not after.
    const corpusSize = { train: corpus.train.length, val: corpus.val.length };
    assertValid(checkRunSettings(s, { ...demoContext(d, s), corpus: corpusSize, limits: gpu.limits }));
    const session = this.newSession(this.host.peakFor(s), await this.ensureFolder());
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
    const label = `demo reference (${d.layers} blocks × ${d.width}, trained here for ${d.steps} steps)`;
    inputs.setDemoReference(
      config,
      params,
      referenceInfo(config, label, 'demo', null, familyOf(config), tokenizerOf(config)),
    );
    // A stop asked for after the reference's last update ends the demo here (the reference stays loaded).
    if (this.stopMode !== null) {
      this.move('ended:stopped', 'stopped once the demo reference had trained');
      return;
    }
    await this.start(s, true);
  }

  /** Resumes the paused run, or (after a reload) the run the run folder keeps. */
  async resume(): Promise<void> {
    await this.claim();
    const folder = this.folder;
    if (!folder) throw new EngineError('no-model', 'There is no saved run to resume.');
    const { inputs } = this.host;
    if (this.stage === 'paused' && this.session && inputs.ref) {
      const info = await folder.info();
      if (!info)
        throw new EngineError('storage', 'The paused run lost its description in the run folder; start again.');
      const session = this.session;
      this.stopMode = null;
      this.host.models.reset();
      this.move('resume', 'resumed');
      await this.finish(() => session.runPipeline(inputs.ref!, null, info));
      return;
    }
    // After a reload: the reference and tokens come back from the run folder.
    const saved = await folder.saved();
    if (!saved) throw new EngineError('no-model', 'There is no saved run to resume.');
    const kept = await folder.inputs();
    const info = (await folder.info()) as (SavedRunInfo & { refInfo: ReferenceInfo }) | null;
    if (!kept || !info)
      throw new EngineError(
        'storage',
        'The saved run is incomplete (its reference or tokens are missing); discard it and start again.',
      );
    await inputs.restore(kept, info.refInfo, info.corpus);
    const session = this.newSession(this.host.peakFor(info.settings), folder);
    const old = await folder.readLog<LogEntry>();
    if (old.length) session.replay(old, info.settings);
    this.move('resume', `resumed from the checkpoint of ${saved.savedAt}`);
    await this.finish(() => session.runPipeline(inputs.ref!, null, info));
  }

  /** Runs a pipeline to its end and moves the stage by how it ended. */
  private async finish(run: () => Promise<PipelineResult>): Promise<void> {
    try {
      const result = await run();
      const status = result.report.status;
      this.host.models.runEnded(result.final);
      this.hasLog = true;
      if (status === 'done') {
        const f = result.report.final;
        const layers = result.report.reference.layers;
        this.move(
          'ended:done',
          f ? `${f.matched ? 'matched' : 'did not match'} the reference with ${f.n} of ${layers} blocks` : undefined,
        );
        await this.folder?.finish(); // a finished run is not offered for resuming
      } else if (status === 'halted')
        this.move('ended:halted', 'a step produced a non-finite loss or gradient; see the log');
      else this.move(this.stopMode === 'stop' ? 'ended:stopped' : 'ended:paused');
      this.host.out.emit({ type: 'saved', saved: (await this.folder?.saved()) ?? null });
      this.host.modelsChanged();
    } catch (e) {
      this.host.models.runEnded(null);
      const gpuError = this.host.gpuError();
      const lost = isDeviceLoss(e) ? e : isDeviceLoss(gpuError) ? gpuError : null;
      if (lost && (await this.recover(lost))) return;
      this.move('ended:halted', (e as Error).message);
      throw e;
    }
  }

  /**
   * After the GPU device was lost mid-run (a driver reset, the GPU process restarting): acquires a new device and
   * resumes the run from its last snapshot in the run folder, as a reload would. At most MAX_RECOVERIES times.
   */
  private async recover(lost: Error): Promise<boolean> {
    if (this.recoveries >= MAX_RECOVERIES || !(await this.folder?.saved())) return false;
    this.recoveries++;
    this.host.notice(
      'gpu',
      new EngineError(
        'gpu',
        `${lost.message}. Acquiring a new GPU device and resuming from the last checkpoint (recovery ${this.recoveries} of ${MAX_RECOVERIES}).`,
      ),
    );
    this.session = null;
    this.host.models.forgetDevice(); // what lived on the lost device
    try {
      await this.host.reacquire();
    } catch (e) {
      this.host.notice(
        'gpu',
        new EngineError(
          'gpu',
          `No GPU device could be acquired after the loss (${(e as Error).message}); reload the page to resume from the last checkpoint.`,
        ),
      );
      return false;
    }
    this.stage = 'halted'; // the lost run ended; resuming it from the run folder moves the stage on
    try {
      await this.resume();
    } catch (e) {
      // The page must not stay on "running": say the run halted, and why.
      if (this.stage === 'halted') this.host.out.emit({ type: 'stage', stage: 'halted', detail: (e as Error).message });
      throw e;
    }
    return true;
  }

  /** Pause (snapshot, then stop at the next update) or stop; a stop during a pause makes it a stop. */
  requestStop(mode: 'pause' | 'stop'): void {
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
    this.stopMode = mode === 'stop' || this.stopMode === 'stop' ? 'stop' : 'pause';
    this.move(
      mode,
      this.stopMode === 'pause' ? 'saving a checkpoint at the next update' : 'stopping at the next update',
    );
  }

  /** Removes the saved run (never another tab's: the claim comes first). */
  async discardSaved(): Promise<void> {
    await this.claim();
    try {
      await this.folder?.discard();
    } finally {
      this.releaseIfIdle();
    }
    this.hasLog = !!this.session?.log.length;
    this.host.out.emit({ type: 'saved', saved: null });
    this.host.modelsChanged();
  }
}
