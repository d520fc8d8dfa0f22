// The built-in demo's settings: the small GPT-2 reference trained from scratch in the page before Inheritune runs on
// it. Fields, defaults and rules in the schema's form, so the page and the worker refuse the same demo settings alike.

import type { BufferLimits } from '../gpu/limits';
import { type Gpt2Config, gpt2Config, gpt2WidestActivation } from '../model/gpt2/config';
import { batchFitProblem } from './fit';
import { type FieldSpec, fieldProblem, type RunSettings, type SettingsContext, type SettingsIssue } from './schema';

export interface DemoSettings {
  layers: number;
  width: number;
  heads: number;
  steps: number;
  batch: number;
  ctx: number;
  lr: number;
}

/** The demo's reference on a GPU: 8 blocks of width 128 (the size of the ref-8L fixture). */
export const DEFAULT_DEMO: DemoSettings = {
  layers: 8,
  width: 128,
  heads: 4,
  steps: 300,
  batch: 16,
  ctx: 128,
  lr: 1e-3,
};

const int = (min: number, max: number) => ({ type: 'int' as const, min, max });

export const DEMO_FIELDS: Record<keyof DemoSettings, FieldSpec> = {
  // Inheritune inherits fewer blocks than the reference has: the demo reference needs at least 2.
  layers: { label: 'demo layers', flag: 'layers', help: 'Blocks of the demo reference', kind: int(2, 48) },
  width: { label: 'demo width', flag: 'width', help: 'Width (C) of the demo reference', kind: int(1, 4096) },
  heads: { label: 'demo heads', flag: 'heads', help: 'Attention heads of the demo reference', kind: int(1, 4096) },
  steps: { label: 'demo steps', flag: 'steps', help: 'Updates the demo reference trains for', kind: int(1, 1e6) },
  batch: { label: 'demo batch', flag: 'batch', help: 'Sequences per update of the demo reference', kind: int(1, 1e6) },
  ctx: { label: 'demo context', flag: 'ctx', help: 'Tokens per sequence of the demo reference', kind: int(1, 4096) },
  lr: {
    label: 'demo learning rate',
    flag: 'lr',
    help: 'Peak learning rate of the demo reference',
    kind: { type: 'number', positive: true },
  },
};

/** The demo's problems (each field's rule, heads dividing the width, the batch fitting the adapter's limits). */
export function checkDemo(d: DemoSettings, limits?: BufferLimits | null): SettingsIssue[] {
  const issues: SettingsIssue[] = [];
  for (const field of Object.keys(DEMO_FIELDS) as (keyof DemoSettings)[]) {
    const problem = fieldProblem(DEMO_FIELDS[field], d[field]);
    if (problem) issues.push({ field, message: `${DEMO_FIELDS[field].label} ${problem}` });
  }
  const bad = new Set(issues.map((i) => i.field));
  if (!bad.has('width') && !bad.has('heads') && d.width % d.heads)
    issues.push({ field: 'width', message: `demo width ${d.width} must be a multiple of its ${d.heads} heads` });
  if (limits && !bad.has('width') && !bad.has('batch') && !bad.has('ctx')) {
    const fit = batchFitProblem(gpt2WidestActivation(d), d.batch, d.ctx, limits);
    if (fit) issues.push({ field: 'batch', message: `demo ${fit}` });
  }
  return issues;
}

/** The demo reference's config: its positions cover both the demo's context and the run's. */
export function demoConfig(d: DemoSettings, run: Pick<RunSettings, 'ctx'>, vocabSize: number): Gpt2Config {
  return gpt2Config({
    vocabSize,
    positions: Math.max(d.ctx, run.ctx),
    width: d.width,
    layers: d.layers,
    heads: d.heads,
  });
}

/** What the run's settings are checked against when the demo trains the reference. */
export function demoContext(
  d: DemoSettings,
  run: Pick<RunSettings, 'ctx'>,
): Required<Pick<SettingsContext, 'reference'>> {
  return {
    reference: {
      layers: d.layers,
      positions: Math.max(d.ctx, Number.isFinite(run.ctx) ? run.ctx : 0),
      widestActivation: gpt2WidestActivation(d),
      label: 'the demo reference',
    },
  };
}
