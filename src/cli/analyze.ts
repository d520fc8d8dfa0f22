// `inheritune analyze`: the lazy-layer attention-rank analysis of a reference checkpoint on the first validation
// windows of a corpus (DESIGN.md "Attention rank"), printed as a per-layer table of k*/m* per head or as JSON.

import { acquireNodeDevice } from '../gpu/node';
import { Gpu } from '../gpu/runtime';
import { maxWindows, validationWindows } from '../io/corpus';
import { analyzeAttention, type AttentionReport } from '../inheritune/analyze';
import { tokenizerOf } from '../model/checkpoint';
import { StreamedWeights } from '../model/streamed';
import { parseFlags, UsageError } from './args';
import { loadCheckpoint, loadCorpus, progress } from './load';

export const ANALYZE_USAGE = `  analyze --model <dir-or-file> --data <text-file> [--batch B] [--ctx T] [--json]
      attention rank per layer and head (k*: singular values holding 90% of Σσ², m*: columns holding 90% of the
      mass) of the post-softmax attention averaged over the first B windows (default 4) of T tokens (default 128) of
      the validation split; lazy layers (every head k*=1 or m*=1) and the suggested number of blocks n to inherit.`;

/** The table: one row per layer, a "k* / m*" cell per head (written without spaces), the lazy mark; then the suggestion. */
export function formatReport(report: AttentionReport): string {
  const H = report.layers[0]?.heads.length ?? 0;
  const cells = report.layers.map((l) => l.heads.map((h) => `${h.kStar}/${h.mStar}`));
  const width = Math.max(6, ...cells.flat().map((c) => c.length));
  const pad = (s: string) => s.padStart(width);
  const lines = [`layer  ${Array.from({ length: H }, (_, h) => pad(`h${h}`)).join(' ')}  lazy`];
  report.layers.forEach(
    (l, i) =>
      void lines.push(
        `${String(l.layer).padStart(5)}  ${cells[i]!.map(pad).join(' ')}  ${l.lazy ? 'lazy' : ''}`.trimEnd(),
      ),
  );
  const pct = Math.round(report.threshold * 100);
  lines.push(
    `(k*/m*: fewest singular values holding ${pct}% of Σσ² / fewest columns holding ${pct}% of the attention mass)`,
  );
  lines.push(`suggested n = ${report.suggestion.n}: ${report.suggestion.reason}`);
  return lines.join('\n');
}

/** Runs the command; resolves to the exit code. `gpu` lets a caller (tests) share its device. */
export async function analyzeCommand(argv: string[], gpu?: Gpu): Promise<number> {
  const f = parseFlags(
    argv,
    {
      model: { type: 'string', required: true },
      data: { type: 'string', required: true },
      batch: { type: 'int' },
      ctx: { type: 'int' },
      json: { type: 'bool' },
    },
    'analyze',
  );
  const { ckpt, src, file } = await loadCheckpoint(f.model as string);
  try {
    const { config } = ckpt;
    const B = (f.batch as number | undefined) ?? 4;
    const T = (f.ctx as number | undefined) ?? Math.min(config.positions, 128);
    if (B < 1) throw new UsageError(`--batch must be at least 1, got ${B}`);
    if (T < 1 || T > config.positions)
      throw new UsageError(`--ctx must be from 1 to the model's ${config.positions} positions, got ${T}`);
    const { val } = await loadCorpus(f.data as string, tokenizerOf(config, ckpt.tokenizerFiles));
    const fit = maxWindows(val.length, T);
    if (fit < B) {
      throw new UsageError(
        `the corpus is too short: its validation split (last 10%) has ${val.length} tokens, ${fit} window(s) of ctx ${T} fit and --batch ${B} needs ${B * T + 1}`,
      );
    }
    // The validation-loss windows' inputs (DESIGN.md "Validation loss"): the analysis sees what the loss is measured on.
    const { inputs } = validationWindows(val, T, B);

    gpu ??= new Gpu(await acquireNodeDevice());
    // Layer by layer (each layer's weights read when its turn comes): the model need not fit on the GPU whole.
    const model = new StreamedWeights(gpu, config, (name) => ckpt.read(name));
    const t0 = performance.now();
    let report: AttentionReport;
    try {
      report = await analyzeAttention(model, inputs, B, T, (d, t) => progress('analysing layers', d, t));
    } finally {
      model.release();
    }
    const seconds = Number(((performance.now() - t0) / 1000).toFixed(2));
    const adapter = gpu.description.description || gpu.description.architecture;
    if (f.json) {
      const out = {
        model: file,
        layers: config.layers,
        heads: config.heads,
        batch: B,
        ctx: T,
        threshold: report.threshold,
        rank: report.layers.map((l) => ({
          layer: l.layer,
          lazy: l.lazy,
          heads: l.heads.map((h) => ({ k_star: h.kStar, m_star: h.mStar })),
        })),
        suggestion: report.suggestion,
        adapter,
        seconds,
        notes: ckpt.notes,
      };
      process.stdout.write(`${JSON.stringify(out)}\n`);
    } else {
      for (const n of ckpt.notes) process.stderr.write(`note: ${n}\n`);
      process.stdout.write(
        `attention rank of ${file}: ${config.layers} layers × ${config.heads} heads on ${B} validation windows × ${T} tokens (${adapter}; ${seconds} s)\n`,
      );
      process.stdout.write(`${formatReport(report)}\n`);
    }
    return 0;
  } finally {
    await src.close();
  }
}
