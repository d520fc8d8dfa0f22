// `inheritune train`: plain training from a checkpoint or from GPT-2 init (e.g. to make a reference), with the same
// training settings as `run`, snapshots every --checkpoint-every updates, --resume.

import { acquireNodeDevice } from '../gpu/node';
import { nodeDeviceOptions } from './settings';
import { Gpu } from '../gpu/runtime';
import { gpt2Bpe } from '../io/tokenizer';
import type { TokenizerFiles } from '../io/hf-tokenizer';
import { tokenizerOf } from '../model/checkpoint';
import type { ModelConfig } from '../model/family';
import { gpt2 } from '../model/gpt2';
import { gpt2Config } from '../model/gpt2/config';
import { Model, type ParamSource } from '../model/model';
import { paramCount } from '../model/params';
import { trainSettings } from '../settings/engine';
import { checkTraining, defaultRunSettings, TRAINING_FIELDS, type TrainingSettings } from '../settings/schema';
import { directoryStore } from '../train/node-store';
import { writeModel } from '../train/run-folder';
import { openSnapshot, restoreTrainer, SNAPSHOT_FILE, saveSnapshot } from '../train/snapshot';
import { Trainer } from '../train/trainer';
import { parseFlags, UsageError } from './args';
import { logWriter } from './live';
import { loadCheckpoint, loadCorpus, progress } from './load';
import { onTrainEvent, requireOut, settingsContext, startOnDevice } from './output';
import { exportDtype, followDefaults, refuse, settingsFromFlags, TRAIN_FLAGS } from './settings';

export const TRAIN_ENTRY = `  train --data <text-file> --out DIR --steps S (--model <dir-or-file> | --layers L --width C --heads H [--positions P])
      <training options>
      plain training from a checkpoint or from GPT-2 init; writes model.safetensors, config.json, log.jsonl.`;

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
  const dtype = exportDtype(f); // a bad --dtype or --tensor-cores is refused before any work
  const deviceOptions = nodeDeviceOptions(f);
  const steps = f.steps as number;
  if (steps < 1) throw new UsageError(`--steps must be at least 1, got ${steps}`);
  let config: ModelConfig;
  let source: ParamSource;
  let close: () => Promise<void> = async () => undefined;
  let tokenizerFiles: TokenizerFiles | undefined;
  if (f.model !== undefined) {
    if (f.layers !== undefined || f.width !== undefined || f.heads !== undefined)
      throw new UsageError('give either --model or --layers/--width/--heads, not both');
    const { ckpt, src } = await loadCheckpoint(f.model as string);
    config = ckpt.config;
    source = (name) => ckpt.read(name);
    tokenizerFiles = ckpt.tokenizerFiles;
    close = () => src.close();
  } else {
    if (f.layers === undefined || f.width === undefined || f.heads === undefined)
      throw new UsageError('from scratch needs --layers, --width and --heads (or give --model)');
    // From scratch: a GPT-2 over GPT-2's BPE vocabulary.
    const scratch = gpt2Config({
      vocabSize: gpt2Bpe.vocabSize,
      positions: (f.positions as number | undefined) ?? 1024,
      width: f.width as number,
      layers: f.layers as number,
      heads: f.heads as number,
    });
    try {
      gpt2.validate(scratch);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    config = scratch;
    const init = gpt2.init(scratch, (f.seed as number | undefined) ?? 1);
    source = (name) => init.get(name)!;
  }
  try {
    const { train, val } = await loadCorpus(f.data as string, tokenizerOf(config, tokenizerFiles));
    const context = settingsContext(config, { train: train.length, val: val.length }, 'the model');
    const given = settingsFromFlags<TrainingSettings>(f, TRAINING_FIELDS, defaultRunSettings(context));
    const training = followDefaults(f, given, steps, val.length);
    if (!f.resume) refuse(checkTraining(training, steps, context), TRAINING_FIELDS);
    gpu ??= new Gpu(await acquireNodeDevice(deviceOptions));
    if (!f.resume) refuse(checkTraining(training, steps, { ...context, limits: gpu.limits }), TRAINING_FIELDS);
    const store = directoryStore(out);
    const { peak, start } = await startOnDevice(f, gpu, argv, store, training.precision);
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
      const model = await Model.create(gpu, config, source, (d, t) => progress('loading', d, t));
      trainer = new Trainer(model, { train, val }, trainSettings(training, steps), peak);
    }
    const log = logWriter(out, !!f.resume);
    log(start);
    const handler = onTrainEvent(
      () => '',
      () => trainer.settings.steps,
      log,
    );
    const every = training.checkpointEvery;
    try {
      let outcome: Awaited<ReturnType<Trainer['run']>>;
      do {
        outcome = await trainer.run(handler, { until: every > 0 ? trainer.position.step + every : undefined });
        if (outcome.status !== 'halted') await saveSnapshot(store, trainer, null);
      } while (outcome.status === 'stopped');
      if (outcome.status === 'halted') return 1;
      await writeModel(store, trainer.model.config, await trainer.model.toHost(), tokenizerFiles, dtype);
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
