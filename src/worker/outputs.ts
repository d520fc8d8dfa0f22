// What the engine hands out: sampled text (streamed as it is decoded) and exported files (the model as a Hugging Face
// checkpoint, the run log as JSON or CSV), both from the model current-model.ts says is current.

import type { Gpu } from '../gpu/runtime';
import type { TokenizerFiles } from '../io/hf-tokenizer';
import type { Tokenizer } from '../io/tokenizer';
import { type ExportDtype, exportCheckpoint, tokenizerOf } from '../model/checkpoint';
import type { ModelConfig } from '../model/family';
import { generate } from '../model/sample';
import { Rng } from '../util/rng';
import { type CurrentModel, replaced } from './current-model';
import type { Emitter } from './emitter';
import { EngineError } from './errors';
import type { Reference } from './inputs';
import type { LogEntry } from './session';

export interface SampleRequest {
  prompt: string;
  tokens: number;
  temperature: number;
  topK: number;
}

/** The reference's tokenizer and files where the model is of its architecture, else the model's family's own. */
function tokensOf(config: ModelConfig, ref: Reference | null): { tokenizer: Tokenizer; files?: TokenizerFiles } {
  if (ref && ref.config.family === config.family && ref.config.vocabSize === config.vocabSize)
    return { tokenizer: ref.tokenizer, ...(ref.tokenizerFiles ? { files: ref.tokenizerFiles } : {}) };
  return { tokenizer: tokenizerOf(config) };
}

/** Samples from the current model, streaming the text as `sample` events (the last one marked done). */
export async function sampleText(
  out: Emitter,
  models: CurrentModel,
  gpu: Gpu,
  r: SampleRequest,
  ref: Reference | null,
): Promise<void> {
  if (!Number.isInteger(r.tokens) || r.tokens < 1 || r.tokens > 1000)
    throw new EngineError('settings', `tokens to sample must be from 1 to 1000, got ${r.tokens}`);
  const model = await models.sampleModel(gpu);
  const { tokenizer } = tokensOf(model.config, ref);
  const ids = r.prompt ? Array.from(await tokenizer.encode(r.prompt)) : [tokenizer.startToken];
  const rng = new Rng((Date.now() & 0x7fffffff) >>> 0);
  let shown = 0;
  const sampled: number[] = [];
  try {
    await generate(
      model,
      ids,
      r.tokens,
      { temperature: r.temperature, topK: r.topK, vocabLimit: tokenizer.vocabSize },
      rng,
      (id) => {
        sampled.push(id);
        const text = tokenizer.decode(sampled);
        // Hold back a trailing partial UTF-8 character (decoded as U+FFFD) until its next byte arrives.
        const safe = text.endsWith('\uFFFD') ? text.length - 1 : text.length;
        if (safe > shown) {
          out.emit({ type: 'sample', text: text.slice(shown, safe), done: false });
          shown = safe;
        }
      },
    );
  } catch (e) {
    if (model.disposed) throw replaced(); // it grew, or its phase ended, while sampling
    throw e;
  }
  out.emit({ type: 'sample', text: tokenizer.decode(sampled).slice(shown), done: true });
}

/** The run log as CSV: one row per training step (phase, round, step, loss, lr, grad norm, tokens/s, MFU) and eval. */
export function logCsv(log: readonly LogEntry[]): string {
  const rows = ['phase,round,kind,step,loss,val_loss,lr,grad_norm,tokens_per_sec,flops_per_sec,mfu,elapsed_sec'];
  const f = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? String(v) : '');
  for (const e of log) {
    if (e.type === 'step')
      rows.push(
        [
          e.phase,
          e.round,
          'step',
          e.step,
          f(e.loss),
          '',
          f(e.lr),
          f(e.gradNorm),
          f(e.tokensPerSec),
          f(e.flopsPerSec),
          f(e.mfu),
          f(e.elapsedSec),
        ].join(','),
      );
    else if (e.type === 'eval')
      rows.push([e.phase, e.round, 'eval', e.step, '', f(e.valLoss), '', '', '', '', '', f(e.elapsedSec)].join(','));
  }
  return `${rows.join('\n')}\n`;
}

/** The files of an export: the current model (model.safetensors + config.json), or the run log. */
export async function exportFiles(
  out: Emitter,
  models: CurrentModel,
  what: 'model' | 'log-json' | 'log-csv',
  log: () => Promise<readonly LogEntry[]>,
  ref: Reference | null,
  dtype: ExportDtype = 'F32',
): Promise<{ name: string; blob: Blob }[]> {
  if (what !== 'model') {
    const entries = await log();
    if (!entries.length) throw new EngineError('no-model', 'There is no run log yet: start a run first.');
    return what === 'log-json'
      ? [
          {
            name: 'inheritune-log.json',
            blob: new Blob([JSON.stringify(entries, null, 1)], { type: 'application/json' }),
          },
        ]
      : [{ name: 'inheritune-log.csv', blob: new Blob([logCsv(entries)], { type: 'text/csv' }) }];
  }
  // One bar over reading the parameters back and writing the files (the two halves of the work).
  return out.tracked('exporting the model', async (p) => {
    p(0, 2);
    const w = await models.weights();
    if (!w)
      throw new EngineError('no-model', 'There is no trained model to export yet: start a run (or the demo) first.');
    p(1, 2);
    const { safetensors, configJson } = exportCheckpoint(w.config, w.params, { dtype });
    // The reference's tokenizer files go beside a model of its architecture; the export never needs a tokenizer.
    const files =
      ref && ref.config.family === w.config.family && ref.config.vocabSize === w.config.vocabSize
        ? ref.tokenizerFiles
        : undefined;
    const json = (name: string, text: string) => ({ name, blob: new Blob([text], { type: 'application/json' }) });
    return [
      { name: 'model.safetensors', blob: new Blob(safetensors, { type: 'application/octet-stream' }) },
      json('config.json', configJson),
      // The reference's tokenizer files, unchanged: the exported folder opens with its tokenizer in transformers.
      ...(files ? [json('tokenizer.json', files.json)] : []),
      ...(files?.config !== undefined ? [json('tokenizer_config.json', files.config)] : []),
    ];
  });
}
