// `inheritune run`: the whole recipe on a reference checkpoint and a corpus, into an output folder (model,
// config.json, log.jsonl, report.json, and snapshots to resume from with --resume).

import { acquireNodeDevice } from '../gpu/node';
import { nodeDeviceOptions } from './settings';
import { Gpu } from '../gpu/runtime';
import { type PipelineEvent, type RunReport, runInheritune } from '../inheritune/pipeline';
import { growPlan } from '../inheritune/plan';
import { comparisonCsv } from '../inheritune/rounds';
import { wordClasses } from '../train/downstream';
import { tokenizerOf } from '../model/checkpoint';
import { inherituneSettings } from '../settings/engine';
import { checkRunSettings, defaultRunSettings, RUN_FIELDS } from '../settings/schema';
import { directoryStore } from '../train/node-store';
import { RUN_FILES, writeJson, writeModel } from '../train/run-folder';
import { parseFlags } from './args';
import { logWriter, say } from './live';
import { loadCheckpoint, loadCorpus, progress } from './load';
import { onTrainEvent, requireOut, settingsContext, startOnDevice } from './output';
import { exportDtype, followDefaults, refuse, RUN_FLAGS, settingsFromFlags, TRAIN_FLAGS } from './settings';

export const RUN_ENTRY = `  run --ref <dir-or-file> --data <text-file> --out DIR [--n N] [--steps-per-round T] [--grow restart|continue]
      [--paper-code] [--compare KIND,...] [--kd-alpha A] [--kd-tau T] [--kd-beta B]
      [--inherit all|attn+mlp|attn|mlp] [--inherit-norms] <training options>
      Inheritune: inherit the first n blocks (default k/2), train T steps (default 200), grow by 2 until the validation
      loss is at or below the reference's or n = k; then the baselines --compare names (scratch, scratch-2x, stack,
      hybrid-stack, half-width, kd, kd-hidden; --baseline = scratch), each on the rounds' updates together; writes
      DIR/model.safetensors, config.json, log.jsonl, report.json (with the comparison table) and snapshots
      (state.safetensors) to resume from with --resume.`;

export async function runCommand(argv: string[], gpu?: Gpu): Promise<number> {
  const f = parseFlags(argv, { ...TRAIN_FLAGS, ...RUN_FLAGS, ref: { type: 'string', required: true } }, 'run');
  const out = requireOut(f);
  exportDtype(f); // a bad --dtype or --tensor-cores is refused before any work
  const deviceOptions = nodeDeviceOptions(f);
  const { ckpt, src } = await loadCheckpoint(f.ref as string);
  try {
    const tokenizer = tokenizerOf(ckpt.config, ckpt.tokenizerFiles);
    const { train, val } = await loadCorpus(f.data as string, tokenizer);
    const context = settingsContext(ckpt.config, { train: train.length, val: val.length }, 'the reference');
    const given = settingsFromFlags(f, RUN_FIELDS, defaultRunSettings(context));
    const settings = followDefaults(f, given, given.stepsPerRound, val.length);
    // A resumed run trains with its snapshot's settings.
    if (!f.resume) refuse(checkRunSettings(settings, context), RUN_FIELDS);
    gpu ??= new Gpu(await acquireNodeDevice(deviceOptions));
    if (!f.resume) refuse(checkRunSettings(settings, { ...context, limits: gpu.limits }), RUN_FIELDS);
    const store = directoryStore(out);
    const { peak, start } = await startOnDevice(f, gpu, argv, store, settings.precision);
    if (!f.resume) say(`plan: ${growPlan(settings.n, ckpt.config.layers).text}`);
    const log = logWriter(out, !!f.resume);
    log(start);
    let total = settings.stepsPerRound;
    let prefix = '';
    const trainHandler = onTrainEvent(
      () => `${prefix} `,
      () => total,
      log,
    );
    const onEvent = (e: PipelineEvent) => {
      if (e.type === 'step' || e.type === 'eval' || e.type === 'halt') return trainHandler(e);
      log(e);
      switch (e.type) {
        case 'reference':
          say(
            `reference: ${e.layers} blocks, ${e.params.toLocaleString('en-US')} params, val loss ${e.valLoss.toFixed(4)}`,
          );
          break;
        case 'round-start':
          prefix = e.phase === 'baseline' ? baselineLabel(e) : `round ${e.round} (n=${e.n})`;
          total = e.steps;
          say(
            `${prefix}: ${e.params.toLocaleString('en-US')} params, val loss ${e.valLoss.toFixed(4)} before training${e.resumed ? ' (resumed)' : ''}`,
          );
          break;
        case 'round-end':
          break;
        case 'grow':
          say(`grow: ${e.from} → ${e.to} blocks (${e.mode})`);
          break;
        case 'rollback':
          say(
            `${e.reason} Rolled back to the snapshot at update ${e.toStep} of this round; continuing with the learning rate × ${e.lrScale}.`,
          );
          break;
        case 'snapshot':
        case 'report':
          break;
      }
    };
    const result = await runInheritune(
      {
        gpu,
        ref: { config: ckpt.config, read: (name) => ckpt.read(name) },
        data: { train, val },
        peak,
        store,
        words: wordClasses(tokenizer),
        onEvent,
        onLoadProgress: (what, d, t) => progress(what, d, t),
      },
      f.resume ? null : inherituneSettings(settings),
      { resume: !!f.resume },
    );
    const { report } = result;
    await writeJson(store, RUN_FILES.report, report, 2);
    if (report.baselines.length)
      await store.write(RUN_FILES.comparison, [new TextEncoder().encode(comparisonCsv(report))]);
    if (result.final)
      await writeModel(store, result.final.config, result.final.params, ckpt.tokenizerFiles, exportDtype(f));
    if (f.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else {
      const lines = [`reference: ${report.reference.layers} blocks, val loss ${report.reference.valLoss.toFixed(4)}`];
      for (const r of [...report.rounds, ...report.baselines]) {
        lines.push(
          `${r.phase === 'baseline' ? baselineLabel(r) : `round ${r.round}`}: n=${r.n} ${r.params.toLocaleString('en-US')} params, ${r.steps} steps, val loss ${r.valLossStart.toFixed(4)} → ${r.valLoss.toFixed(4)} (${r.seconds.toFixed(1)} s)`,
        );
      }
      if (report.comparison.length > 1) lines.push(...comparisonTable(report));
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

/** "baseline scratch", "baseline stack (stage 2 of 2)". */
function baselineLabel(r: { kind?: string; stage?: number }): string {
  const kind = r.kind ?? 'scratch';
  return `baseline ${kind}${kind === 'stack' && r.stage !== undefined ? ` (stage ${r.stage + 1})` : ''}`;
}

/** The comparison as aligned text columns (report.json has it as data). */
function comparisonTable(report: RunReport): string[] {
  const head = [
    'kind',
    'blocks',
    'width',
    'params',
    'steps',
    'tokens',
    'FLOPs',
    'val loss',
    'vs reference',
    'seconds',
    'top-1',
    'last word',
    'word logp',
  ];
  const num = (v: number | null | undefined, f: (x: number) => string) => (v === null || v === undefined ? '—' : f(v));
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const d = report.reference.downstream;
  const ref = ['reference', String(report.reference.layers), '—', report.reference.params.toLocaleString('en-US')];
  const refRow = [...ref, '—', '—', '—', report.reference.valLoss.toFixed(4), '—', '—'];
  refRow.push(
    num(d?.top1, pct),
    num(d?.lastWord, pct),
    num(d?.lastWordLogp, (x) => x.toFixed(3)),
  );
  const rows = report.comparison.map((r) => [
    r.kind,
    String(r.layers),
    num(r.width, String),
    r.params.toLocaleString('en-US'),
    String(r.steps),
    num(r.tokens, (x) => x.toLocaleString('en-US')),
    num(r.flops, (x) => x.toExponential(2)),
    r.valLoss.toFixed(4),
    `${r.gap >= 0 ? '+' : ''}${r.gap.toFixed(4)}`,
    r.seconds.toFixed(1),
    num(r.top1, pct),
    num(r.lastWord, pct),
    num(r.lastWordLogp, (x) => x.toFixed(3)),
  ]);
  rows.unshift(refRow);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [`comparison (reference val loss ${report.reference.valLoss.toFixed(4)}):`, line(head), ...rows.map(line)];
}
