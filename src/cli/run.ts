// `inheritune run` (the whole recipe), `inheritune inherit` (the inherited model, untrained, as a Hugging Face
// checkpoint) and `inheritune train` (plain training from a checkpoint or from scratch, e.g. to make a reference).

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acquireNodeDevice } from '../gpu/node';
import { Gpu } from '../gpu/runtime';
import { exportGpt2 } from '../io/checkpoint';
import { splitTokens } from '../io/corpus';
import { writeParts } from '../io/node-source';
import { GPT2_VOCAB } from '../io/tokenizer';
import { defaultN, inheritSource } from '../inheritune/inherit';
import { growPlan, inheritNProblem } from '../inheritune/plan';
import { runInheritune, type InherituneSettings, type PipelineEvent } from '../inheritune/pipeline';
import { validateConfig, type Gpt2Config } from '../model/config';
import { Gpt2Model, type ParamSource } from '../model/gpt2';
import { initParams, paramCount, paramSpecs } from '../model/params';
import { directoryStore } from '../train/node-store';
import { openSnapshot, restoreTrainer, saveSnapshot, SNAPSHOT_FILE } from '../train/snapshot';
import { batchFitProblem } from '../train/fit';
import { Trainer, type TrainEvent } from '../train/trainer';
import type { Peak } from '../train/mfu';
import { parseFlags, UsageError, type Parsed } from './args';
import { logWriter, say, status, stepLine } from './live';
import { lockOutDir } from './lock';
import { loadCheckpoint, loadCorpus, progress } from './load';
import { resolvePeak, TRAIN_FLAGS, trainSettings } from './settings';

/** Each command's entry in the usage (the training options follow `train`, and are shown with `run` and `train`). */
export const RUN_ENTRY = `  run --ref <dir-or-file> --data <text-file> --out DIR [--n N] [--steps-per-round T] [--grow restart|continue]
      [--paper-code] [--baseline] <training options>
      Inheritune: inherit the first n blocks (default k/2), train T steps (default 200), grow by 2 until the validation
      loss is at or below the reference's or n = k; writes DIR/model.safetensors, config.json, log.jsonl, report.json
      and snapshots (state.safetensors) to resume from with --resume.`;
export const INHERIT_ENTRY = `  inherit --ref <dir-or-file> --n N --out DIR [--paper-code] [--seed S]
      the inherited model, untrained, as a Hugging Face checkpoint (model.safetensors + config.json).`;
export const TRAIN_ENTRY = `  train --data <text-file> --out DIR --steps S (--model <dir-or-file> | --layers L --width C --heads H [--positions P])
      <training options>
      plain training from a checkpoint or from GPT-2 init; writes model.safetensors, config.json, log.jsonl.`;

async function writeModel(dir: string, config: Gpt2Config, params: Map<string, Float32Array>): Promise<void> {
  const { safetensors, configJson } = exportGpt2(config, params);
  await writeParts(join(dir, 'model.safetensors'), safetensors);
  writeFileSync(join(dir, 'config.json'), configJson);
}

function requireOut(f: Parsed): string {
  const out = f.out as string | undefined;
  if (!out) throw new UsageError('--out DIR is required (where the model, log and snapshots go)');
  lockOutDir(out);
  if (!f.resume && existsSync(join(out, SNAPSHOT_FILE))) {
    throw new UsageError(
      `${out} already holds a run (${SNAPSHOT_FILE}): pass --resume to continue it, or choose another --out`,
    );
  }
  return out;
}

/** Says what MFU is measured against and whether shaders check bounds; returns the log's start record. */
function announce(gpu: Gpu, peak: Peak, argv: string[], resume: boolean) {
  say(`peak for MFU: ${(peak.flops / 1e12).toFixed(3)} TFLOP/s (${peak.source}: ${peak.label})`);
  if (!gpu.boundsChecks) say('shaders compiled without bounds checks (--no-bounds-checks)');
  return {
    type: 'start',
    argv,
    peak,
    adapter: gpu.description.description || gpu.description.architecture,
    boundsChecks: gpu.boundsChecks,
    resume,
  };
}

function onTrainEvent(prefixOf: () => string, total: () => number, log: (e: object) => void) {
  return (e: TrainEvent) => {
    const prefix = prefixOf();
    log(e);
    if (e.type === 'step') status(stepLine(prefix, e, total()), (e.step + 1) % 10 === 0 || e.step + 1 === total());
    else if (e.type === 'eval') say(`${prefix}step ${e.step}: val loss ${e.valLoss.toFixed(4)}`);
    else say(`${prefix}halted: ${e.reason}`);
  };
}

export async function runCommand(argv: string[], gpu?: Gpu): Promise<number> {
  const f = parseFlags(
    argv,
    {
      ...TRAIN_FLAGS,
      ref: { type: 'string', required: true },
      n: { type: 'int' },
      'steps-per-round': { type: 'int' },
      grow: { type: 'string' },
      'paper-code': { type: 'bool' },
      baseline: { type: 'bool' },
    },
    'run',
  );
  const out = requireOut(f);
  const { ckpt, src } = await loadCheckpoint(f.ref as string);
  try {
    const k = ckpt.config.nLayer;
    const { train, val } = splitTokens(await loadCorpus(f.data as string));
    const steps = (f['steps-per-round'] as number | undefined) ?? 200;
    if (steps < 1) throw new UsageError(`--steps-per-round must be at least 1, got ${steps}`);
    const n = (f.n as number | undefined) ?? defaultN(k);
    const nProblem = inheritNProblem(n, k);
    if (nProblem) throw new UsageError(`--n ${nProblem}`);
    const grow = (f.grow as string | undefined) ?? 'restart';
    if (grow !== 'restart' && grow !== 'continue')
      throw new UsageError(`--grow must be restart or continue, got "${grow}"`);
    const settings: InherituneSettings = {
      n,
      stepsPerRound: steps,
      grow,
      paperCode: !!f['paper-code'],
      baseline: !!f.baseline,
      train: trainSettings(f, ckpt.config.nPositions, val.length, steps),
      initSeed: (f.seed as number | undefined) ?? 1,
      checkpointEvery: (f['checkpoint-every'] as number | undefined) ?? 50,
    };
    gpu ??= new Gpu(await acquireNodeDevice({ boundsChecks: !f['no-bounds-checks'] }));
    const fit = f.resume ? null : batchFitProblem(ckpt.config, settings.train.batch, settings.train.ctx, gpu.limits);
    if (fit) throw new UsageError(fit);
    const peak = await resolvePeak(f, gpu);
    const start = announce(gpu, peak, argv, !!f.resume);
    if (!f.resume) say(`plan: ${growPlan(n, k).text}`);
    const log = logWriter(out, !!f.resume);
    log(start);
    let total = steps;
    let prefix = '';
    let inheritSteps = 0;
    const trainHandler = onTrainEvent(
      () => `${prefix} `,
      () => total,
      log,
    );
    const onEvent = (e: PipelineEvent) => {
      switch (e.type) {
        case 'reference':
          log(e);
          say(
            `reference: ${e.layers} blocks, ${e.params.toLocaleString('en-US')} params, val loss ${e.valLoss.toFixed(4)}`,
          );
          break;
        case 'round-start':
          log(e);
          prefix = e.phase === 'baseline' ? 'baseline' : `round ${e.round} (n=${e.n})`;
          total = e.phase === 'baseline' ? inheritSteps : steps;
          say(
            `${prefix}: ${e.params.toLocaleString('en-US')} params, val loss ${e.valLoss.toFixed(4)} before training${e.resumed ? ' (resumed)' : ''}`,
          );
          break;
        case 'round-end':
          log(e);
          if (e.result.phase === 'inheritune') inheritSteps += e.result.steps;
          break;
        case 'grow':
          log(e);
          say(`grow: ${e.from} → ${e.to} blocks (${e.mode})`);
          break;
        case 'snapshot':
          log(e);
          break;
        case 'rollback':
          log(e);
          say(
            `${e.reason} Rolled back to the snapshot at update ${e.toStep} of this round; continuing with the learning rate × ${e.lrScale}.`,
          );
          break;
        case 'report':
          log(e);
          break;
        default:
          trainHandler(e);
      }
    };
    const result = await runInheritune(
      {
        gpu,
        ref: { config: ckpt.config, read: (name) => ckpt.read(name) },
        data: { train, val },
        peak,
        store: directoryStore(out),
        onEvent,
        onLoadProgress: (what, d, t) => progress(what, d, t),
      },
      f.resume ? null : settings,
      { resume: !!f.resume },
    );
    const { report } = result;
    writeFileSync(join(out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    if (result.final) await writeModel(out, result.final.config, result.final.params);
    if (f.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else {
      const lines = [`reference: ${report.reference.layers} blocks, val loss ${report.reference.valLoss.toFixed(4)}`];
      for (const r of [...report.rounds, ...(report.baseline ? [report.baseline] : [])]) {
        lines.push(
          `${r.phase === 'baseline' ? 'baseline' : `round ${r.round}`}: n=${r.n} ${r.params.toLocaleString('en-US')} params, ${r.steps} steps, val loss ${r.valLossStart.toFixed(4)} → ${r.valLoss.toFixed(4)} (${r.seconds.toFixed(1)} s)`,
        );
      }
      if (report.final)
        lines.push(
          `${report.final.matched ? 'matched' : 'did not match'} the reference with ${report.final.n} of ${report.reference.layers} blocks; model written to ${out}`,
        );
      lines.push(`status: ${report.status}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return report.status === 'halted' ? 1 : 0;
  } finally {
    await src.close();
  }
}

export async function inheritCommand(argv: string[]): Promise<number> {
  const f = parseFlags(
    argv,
    {
      ref: { type: 'string', required: true },
      n: { type: 'int', required: true },
      out: { type: 'string', required: true },
      'paper-code': { type: 'bool' },
      seed: { type: 'int' },
    },
    'inherit',
  );
  const { ckpt, src } = await loadCheckpoint(f.ref as string);
  try {
    const n = f.n as number;
    if (n < 1 || n > ckpt.config.nLayer)
      throw new UsageError(`--n must be from 1 to the reference's ${ckpt.config.nLayer} blocks, got ${n}`);
    const { config, source } = inheritSource(ckpt.config, (name) => ckpt.read(name), n, {
      paperCode: !!f['paper-code'],
      seed: (f.seed as number | undefined) ?? 1,
    });
    const params = new Map<string, Float32Array>();
    const names = paramSpecs(config).map((p) => p.name);
    for (const [i, name] of names.entries()) {
      params.set(name, await source(name, []));
      progress('reading', i + 1, names.length);
    }
    const out = f.out as string;
    mkdirSync(out, { recursive: true });
    await writeModel(out, config, params);
    process.stdout.write(
      `wrote ${out}/model.safetensors and config.json: ${n} of ${ckpt.config.nLayer} blocks, ${paramCount(config).toLocaleString('en-US')} params\n`,
    );
    return 0;
  } finally {
    await src.close();
  }
}

export async function trainCommand(argv: string[], gpu?: Gpu): Promise<number> {
  const f = parseFlags(
    argv,
    {
      ...TRAIN_FLAGS,
      model: { type: 'string' },
      steps: { type: 'int', required: true },
      layers: { type: 'int' },
      width: { type: 'int' },
      heads: { type: 'int' },
      positions: { type: 'int' },
    },
    'train',
  );
  const out = requireOut(f);
  const steps = f.steps as number;
  if (steps < 1) throw new UsageError(`--steps must be at least 1, got ${steps}`);
  const { train, val } = splitTokens(await loadCorpus(f.data as string));
  let config: Gpt2Config;
  let source: ParamSource;
  let close: () => Promise<void> = async () => undefined;
  if (f.model !== undefined) {
    if (f.layers !== undefined || f.width !== undefined || f.heads !== undefined)
      throw new UsageError('give either --model or --layers/--width/--heads, not both');
    const { ckpt, src } = await loadCheckpoint(f.model as string);
    config = ckpt.config;
    source = (name) => ckpt.read(name);
    close = () => src.close();
  } else {
    if (f.layers === undefined || f.width === undefined || f.heads === undefined)
      throw new UsageError('from scratch needs --layers, --width and --heads (or give --model)');
    config = {
      vocabSize: GPT2_VOCAB,
      nPositions: (f.positions as number | undefined) ?? 1024,
      nEmbd: f.width as number,
      nLayer: f.layers as number,
      nHead: f.heads as number,
    };
    try {
      validateConfig(config);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const init = initParams(config, (f.seed as number | undefined) ?? 1);
    source = (name) => init.get(name)!;
  }
  try {
    const settings = { ...trainSettings(f, config.nPositions, val.length, steps), steps };
    gpu ??= new Gpu(await acquireNodeDevice({ boundsChecks: !f['no-bounds-checks'] }));
    const fit = f.resume ? null : batchFitProblem(config, settings.batch, settings.ctx, gpu.limits);
    if (fit) throw new UsageError(fit);
    const peak = await resolvePeak(f, gpu);
    const start = announce(gpu, peak, argv, !!f.resume);
    const store = directoryStore(out);
    let trainer: Trainer;
    if (f.resume) {
      const snap = await openSnapshot(store);
      if (!snap) throw new UsageError(`nothing to resume in ${out}: no ${SNAPSHOT_FILE}`);
      try {
        trainer = await restoreTrainer(gpu, snap, { train, val }, peak, (d, t) => progress('restoring', d, t));
      } finally {
        await snap.close();
      }
    } else {
      const model = await Gpt2Model.create(gpu, config, source, (d, t) => progress('loading', d, t));
      trainer = new Trainer(model, { train, val }, settings, peak);
    }
    const log = logWriter(out, !!f.resume);
    log(start);
    const handler = onTrainEvent(
      () => '',
      () => trainer.settings.steps,
      log,
    );
    const every = (f['checkpoint-every'] as number | undefined) ?? 50;
    try {
      let outcome: Awaited<ReturnType<Trainer['run']>>;
      do {
        outcome = await trainer.run(handler, { until: every > 0 ? trainer.position.step + every : undefined });
        if (outcome.status !== 'halted') await saveSnapshot(store, trainer, null);
      } while (outcome.status === 'stopped');
      if (outcome.status === 'halted') return 1;
      await writeModel(out, trainer.model.config, await trainer.model.toHost());
      const result = {
        val_loss: outcome.valLoss,
        steps: trainer.position.step,
        params: paramCount(trainer.model.config),
        seconds: trainer.position.elapsedSec,
      };
      if (f.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else
        process.stdout.write(
          `trained ${result.steps} steps: val loss ${outcome.valLoss?.toFixed(4)}; model written to ${out} (${result.seconds.toFixed(1)} s)\n`,
        );
      return 0;
    } finally {
      const model = trainer.model;
      trainer.dispose();
      model.dispose();
    }
  } finally {
    await close();
  }
}
