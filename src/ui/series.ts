// Chart data kept outside React: columnar series that the worker's metric batches append to and uPlot charts read
// directly, so a new point redraws a chart without re-rendering any component (DESIGN.md house style 7).
// The x axis is the update count within a phase; Inheritune rounds continue one axis (round r starts where r−1
// ended), the baseline and the demo's reference start again at 0, so rows are kept sorted by x and merged.

import { BASELINE_KINDS, type BaselineKind } from '../inheritune/baseline-kinds';
import type { MetricPoint } from '../worker/protocol';

/** One model's columns: the demo reference's while it trains, Inheritune's from its first update. */
const PER_MODEL = ['lr', 'gradNorm', 'tokensPerSec', 'tflops', 'mfu'] as const;
export const COLUMNS = ['loss', 'valLoss', 'refLoss', 'refVal', ...PER_MODEL] as const;
export type Column = (typeof COLUMNS)[number];

/** The comparison charts' runs: Inheritune (its rounds together) and each baseline kind. */
export const RUNS = ['inheritune', ...BASELINE_KINDS] as const;
export type Run = (typeof RUNS)[number];

export interface Marker {
  x: number;
  label: string;
}

/** Columns over one sorted x axis, with markers and a reference line, that charts subscribe to. */
export class Series<C extends string = string> {
  x: number[] = [];
  readonly cols: Record<C, (number | null)[]>;
  /** Grow events (x where the next round starts) and round starts. */
  markers: Marker[] = [];
  /** The reference's validation loss (a horizontal line on the loss chart). */
  referenceLine: number | null = null;
  private listeners = new Set<() => void>();
  private scheduled = false;
  version = 0;

  constructor(readonly columns: readonly C[]) {
    this.cols = Object.fromEntries(columns.map((c) => [c, []])) as unknown as Record<C, (number | null)[]>;
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  clear(): void {
    this.x = [];
    for (const c of this.columns) this.cols[c] = [];
    this.markers = [];
    this.referenceLine = null;
    this.changed();
  }

  /** The row at x (inserted in order when new). */
  private row(x: number): number {
    let lo = 0;
    let hi = this.x.length;
    if (hi && this.x[hi - 1]! < x) lo = hi;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.x[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    if (this.x[lo] === x) return lo;
    this.x.splice(lo, 0, x);
    for (const c of this.columns) this.cols[c].splice(lo, 0, null);
    return lo;
  }

  set(x: number, col: C, v: number | null | undefined): void {
    if (v === undefined) return;
    this.cols[col][this.row(x)] = v === null || Number.isFinite(v) ? v : null;
  }

  /** The value of `col` at x, or null where there is none. */
  valueAt(x: number, col: C): number | null {
    const i = this.x.indexOf(x);
    return i < 0 ? null : (this.cols[col][i] ?? null);
  }

  /** Adds a marker; the same marker again (a resumed round announces itself once more) is ignored. */
  mark(m: Marker): void {
    if (this.markers.some((k) => k.x === m.x && k.label === m.label)) return;
    this.markers.push(m);
    this.changed();
  }

  setReference(v: number | null): void {
    this.referenceLine = v;
    this.changed();
  }

  /** Listeners run at most once per animation frame. */
  protected changed(): void {
    this.version++;
    if (this.scheduled) return;
    this.scheduled = true;
    const raf =
      typeof requestAnimationFrame === 'function' ? requestAnimationFrame : (f: () => void) => setTimeout(f, 16);
    raf(() => {
      this.scheduled = false;
      for (const fn of this.listeners) fn();
    });
  }
}

/**
 * The live charts' store: x is the update count within a phase. Baselines are not drawn here (their own axes are the
 * comparison charts'); the rate, gradient and throughput columns are one model's.
 */
export class UpdateSeries extends Series<Column> {
  private inherituneSeen = false;

  constructor() {
    super(COLUMNS);
  }

  override clear(): void {
    this.inherituneSeen = false;
    super.clear();
  }

  add(points: MetricPoint[]): void {
    for (const p of points) {
      // Steps are logged after the update (x + 1 updates done); evals are at the update count they follow.
      const x = p.kind === 'step' ? p.x + 1 : p.x;
      if (p.phase === 'baseline') continue;
      if (p.kind === 'eval') {
        this.set(x, p.phase === 'inheritune' ? 'valLoss' : 'refVal', p.loss);
        continue;
      }
      this.set(x, p.phase === 'inheritune' ? 'loss' : 'refLoss', p.loss);
      // Rate, gradient and throughput columns are one model's: the demo reference's while it trains (its x axis
      // restarts at 0), Inheritune's from its first update on (the reference's values are cleared then).
      if (p.phase === 'reference' && this.inherituneSeen) continue;
      if (p.phase === 'inheritune' && !this.inherituneSeen) {
        this.inherituneSeen = true;
        for (const c of PER_MODEL) this.cols[c].fill(null);
      }
      this.set(x, 'lr', p.lr);
      this.set(x, 'gradNorm', p.gradNorm);
      this.set(x, 'tokensPerSec', p.tokensPerSec);
      this.set(x, 'tflops', p.flopsPerSec === undefined ? undefined : p.flopsPerSec / 1e12);
      this.set(x, 'mfu', p.mfu === undefined || p.mfu === null ? p.mfu : p.mfu * 100);
    }
    this.changed();
  }
}

/**
 * The comparison charts' store: each run's validation loss against what it has spent, tokens seen or training FLOPs
 * (FLOPs per token = achieved FLOP/s ÷ tokens/s of its updates, so a round of fewer blocks, a stack's first stage or
 * the half-width model spends less per token). Runs restart their own spending at 0; Inheritune's rounds add up.
 */
export class ComparisonSeries extends Series<Run> {
  private spent = new Map<Run, { tokens: number; flops: number }>();

  constructor(readonly axis: 'tokens' | 'flops') {
    super(RUNS);
  }

  override clear(): void {
    this.spent.clear();
    super.clear();
  }

  add(points: MetricPoint[]): void {
    for (const p of points) {
      if (p.phase === 'reference') continue;
      const run: Run = p.phase === 'inheritune' ? 'inheritune' : (p.run ?? ('scratch' satisfies BaselineKind));
      const at = this.spent.get(run) ?? { tokens: 0, flops: 0 };
      this.spent.set(run, at);
      if (p.kind === 'step') {
        const t = p.tokens ?? 0;
        at.tokens += t;
        if (p.flopsPerSec && p.tokensPerSec) at.flops += t * (p.flopsPerSec / p.tokensPerSec);
        continue;
      }
      // An evaluation before a run's first update stands at 0 spent. A later round's (stage's) opening evaluation
      // stands where the last one ended: the curve keeps that round's final value (a restart round opens on the
      // re-inherited model, which is no point of the run's progress).
      const x = this.axis === 'tokens' ? at.tokens : at.flops / 1e15;
      if (this.valueAt(x, run) === null) this.set(x, run, p.loss);
    }
    this.changed();
  }
}

/** The app's chart stores: the live charts', and the comparison's against tokens and against FLOPs. */
export const series = new UpdateSeries();
export const comparisonByTokens = new ComparisonSeries('tokens');
export const comparisonByFlops = new ComparisonSeries('flops');
