// One uPlot chart bound to a series store (the live `series` unless its spec names another): created once on mount, fed with setData whenever series changes
// (at most once per frame, series.ts), resized by a ResizeObserver and destroyed on unmount, so a metrics batch
// redraws it without any React render. Draws the reference val loss line and the round markers in a draw hook.

import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { type Series, series } from './series';

export interface LineSpec {
  col: string;
  label: string;
  stroke: string;
  /** y scale key; 'y' unless the chart has a second axis. */
  scale?: string;
  /** Sparse points (evaluations): draw dots, joined across the gaps. */
  points?: boolean;
  dash?: number[];
  fmt?: (v: number) => string;
}

export interface ChartSpec {
  name: string;
  title: string;
  /** The store it draws (default: the live charts' `series`), its x axis' label and tick format. */
  data?: Series;
  xLabel?: string;
  xFmt?: (v: number) => string;
  lines: LineSpec[];
  /** y axes by scale key, left first; a second one goes on the right without grid lines. */
  axes: { scale: string; label: string; fmt?: (v: number) => string }[];
  /** Draws the store's referenceLine on scale 'y' and keeps it in the y range. */
  referenceLine?: boolean;
  /** Draws the store's markers (round starts) as labelled vertical lines. */
  markers?: boolean;
  height: number;
}

const FONT = '11px system-ui, sans-serif';

const dataOf = (spec: ChartSpec): Series => spec.data ?? (series as unknown as Series);

function columns(spec: ChartSpec): uPlot.AlignedData {
  const d = dataOf(spec);
  return [d.x, ...spec.lines.map((l) => d.cols[l.col]!)];
}

/** Non-null values per line (what the chart actually draws). */
function countPoints(spec: ChartSpec): number[] {
  return spec.lines.map((l) => {
    let n = 0;
    for (const v of dataOf(spec).cols[l.col]!) if (v !== null) n++;
    return n;
  });
}

/** Before any data a scale has no extent; [0, 1] keeps the axes drawn instead of an empty box. */
function autoRange(_u: uPlot, min: number | null, max: number | null): uPlot.Range.MinMax {
  if (min === null || max === null) return [0, 1];
  if (min === max) return min === 0 ? [0, 1] : [min - Math.abs(min) * 0.1, max + Math.abs(max) * 0.1];
  return uPlot.rangeNum(min, max, 0.1, true);
}

/** The y range of the loss chart always includes the reference line, so "below the line" is visible from the start. */
const withReference =
  (spec: ChartSpec) =>
  (_u: uPlot, min: number | null, max: number | null): uPlot.Range.MinMax => {
    const r = dataOf(spec).referenceLine;
    let lo = min;
    let hi = max;
    if (r !== null) {
      lo = lo === null ? r : Math.min(lo, r);
      hi = hi === null ? r : Math.max(hi, r);
    }
    if (lo === null || hi === null) return [0, 1];
    if (lo === hi) return [lo - 0.5, hi + 0.5];
    return uPlot.rangeNum(lo, hi, 0.1, true);
  };

function drawOverlays(spec: ChartSpec, u: uPlot): void {
  const ctx = u.ctx;
  const { left, top, width, height } = u.bbox;
  const px = uPlot.pxRatio;
  ctx.save();
  ctx.font = FONT.replace('11px', `${Math.round(11 * px)}px`);
  ctx.lineWidth = px;
  if (spec.markers) {
    ctx.strokeStyle = 'rgba(80, 90, 110, 0.55)';
    ctx.fillStyle = '#4b5568';
    ctx.setLineDash([3 * px, 3 * px]);
    ctx.textBaseline = 'top';
    for (const m of dataOf(spec).markers) {
      const x = Math.round(u.valToPos(m.x, 'x', true));
      if (x < left - 1 || x > left + width + 1) continue;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      ctx.fillText(m.label, x + 3 * px, top + 2 * px);
    }
  }
  const r = dataOf(spec).referenceLine;
  if (spec.referenceLine && r !== null) {
    const y = Math.round(u.valToPos(r, 'y', true));
    if (y >= top && y <= top + height) {
      ctx.strokeStyle = '#dc2626';
      ctx.setLineDash([6 * px, 4 * px]);
      ctx.lineWidth = 1.5 * px;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + width, y);
      ctx.stroke();
      // A white plate under the label keeps it readable where the loss curves cross the line.
      const label = `reference val ${r.toFixed(4)}`;
      const w = ctx.measureText(label).width;
      const x = left + width - w - 8 * px;
      ctx.fillStyle = 'rgba(255, 255, 255, 0.85)';
      ctx.fillRect(x - 3 * px, y - 15 * px, w + 6 * px, 13 * px);
      ctx.fillStyle = '#dc2626';
      ctx.textBaseline = 'bottom';
      ctx.fillText(label, x, y - 3 * px);
    }
  }
  ctx.restore();
}

function options(spec: ChartSpec, width: number): uPlot.Options {
  const scales: uPlot.Scales = { x: { time: false } };
  for (const a of spec.axes)
    scales[a.scale] = {
      range: (spec.referenceLine && a.scale === 'y' ? withReference(spec) : autoRange) as uPlot.Range.Function,
    };
  return {
    width,
    height: spec.height,
    scales,
    legend: { show: true, live: true },
    cursor: { drag: { x: true, y: false } },
    series: [
      {
        label: spec.xLabel ?? 'update',
        value: (_u, v) => (v === null || v === undefined ? '—' : spec.xFmt ? spec.xFmt(v) : String(v)),
      },
      ...spec.lines.map(
        (l): uPlot.Series => ({
          label: l.label,
          scale: l.scale ?? 'y',
          stroke: l.stroke,
          width: l.points ? 1 : 1.5,
          dash: l.dash,
          spanGaps: true,
          points: l.points ? { show: true, size: 5, fill: l.stroke } : { show: false },
          value: (_u, v) => (v === null || v === undefined ? '—' : l.fmt ? l.fmt(v) : v.toPrecision(4)),
        }),
      ),
    ],
    axes: [
      {
        label: spec.xLabel ?? 'updates',
        labelSize: 14,
        size: 34,
        font: FONT,
        labelFont: FONT,
        values: spec.xFmt ? (_u, vals) => vals.map((v) => (v === null ? '' : spec.xFmt!(v))) : undefined,
      },
      ...spec.axes.map(
        (a, i): uPlot.Axis => ({
          scale: a.scale,
          label: a.label,
          labelSize: 14,
          labelFont: FONT,
          font: FONT,
          size: 52,
          side: i === 0 ? 3 : 1,
          grid: { show: i === 0, stroke: '#eef0f4' },
          values: a.fmt ? (_u, vals) => vals.map((v) => (v === null ? '' : a.fmt!(v))) : undefined,
        }),
      ),
    ],
    hooks: { draw: [(u) => drawOverlays(spec, u)] },
  };
}

/** `spec` must be a stable object (module constant): the plot is built once from it. */
export function Chart({ spec }: { spec: ChartSpec }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const el = box.current!;
    const target = plot.current!;
    const u = new uPlot(options(spec, Math.max(200, target.clientWidth)), columns(spec), target);
    // Legend rows of lines with no data yet (the baseline, the demo reference) stay hidden until they have some.
    const rows = Array.from(u.root.querySelectorAll<HTMLElement>('.u-legend .u-series')).slice(1);
    const update = () => {
      u.setData(columns(spec));
      const counts = countPoints(spec);
      el.dataset.points = String(counts.reduce((a, n) => a + n, 0));
      counts.forEach((n, i) => {
        const row = rows[i];
        if (row) row.style.display = n > 0 || i === 0 ? '' : 'none';
      });
    };
    update();
    const unsubscribe = dataOf(spec).subscribe(update);
    let width = target.clientWidth;
    const ro = new ResizeObserver((entries) => {
      const w = Math.floor(entries[0]?.contentRect.width ?? 0);
      if (w > 0 && w !== width) {
        width = w;
        u.setSize({ width: w, height: spec.height });
      }
    });
    ro.observe(target);
    return () => {
      unsubscribe();
      ro.disconnect();
      u.destroy();
    };
  }, [spec]);

  return (
    <div className="chart" data-testid={`chart-${spec.name}`} data-points="0" ref={box}>
      <div className="chart-title">{spec.title}</div>
      <div className="chart-plot" ref={plot} />
    </div>
  );
}
