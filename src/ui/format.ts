// Number formatting shared by the panels: one place decides how losses, counts, bytes, FLOPs and durations read,
// so the same quantity looks the same in the header, the cards, the accounting and the report.

/** "—" stands for "nothing measured yet" everywhere (never 0 or NaN, which would read as a measurement). */
export const NONE = '—';

const ok = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

export function fmtLoss(v: number | null | undefined): string {
  return ok(v) ? v.toFixed(4) : NONE;
}

/** 1234 → "1,234"; big counts get an SI suffix so they stay short: 12.3M, 1.50B. */
export function fmtCount(v: number | null | undefined): string {
  if (!ok(v)) return NONE;
  const a = Math.abs(v);
  if (a >= 1e12) return `${(v / 1e12).toFixed(2)}T`;
  if (a >= 1e9) return `${(v / 1e9).toFixed(2)}B`;
  if (a >= 1e7) return `${(v / 1e6).toFixed(1)}M`;
  return Math.round(v).toLocaleString('en-US');
}

/** Parameter counts the way model cards write them: 124.4M, 1.56B. */
export function fmtParams(v: number | null | undefined): string {
  if (!ok(v)) return NONE;
  if (v >= 1e9) return `${(v / 1e9).toFixed(2)}B`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}K`;
  return String(v);
}

export function fmtBytes(v: number | null | undefined): string {
  if (!ok(v)) return NONE;
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let x = v;
  let u = 0;
  while (x >= 1000 && u < units.length - 1) {
    x /= 1000;
    u++;
  }
  return `${u ? x.toFixed(1) : x} ${units[u]}`;
}

/** Progress figures whose unit the event does not name (bytes or counts): SI without a unit reads right for both. */
export function fmtSI(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  return String(Math.round(v));
}

/** FLOPs (a total, not a rate): PFLOP above 1e15, else TFLOP, else GFLOP. */
export function fmtFlops(v: number | null | undefined): string {
  if (!ok(v)) return NONE;
  if (v >= 1e18) return `${(v / 1e18).toFixed(2)} EFLOP`;
  if (v >= 1e15) return `${(v / 1e15).toFixed(2)} PFLOP`;
  if (v >= 1e12) return `${(v / 1e12).toFixed(2)} TFLOP`;
  return `${(v / 1e9).toFixed(2)} GFLOP`;
}

export function fmtTflops(flopsPerSec: number | null | undefined): string {
  if (!ok(flopsPerSec)) return NONE;
  const t = flopsPerSec / 1e12;
  return t >= 10 ? t.toFixed(1) : t >= 0.1 ? t.toFixed(2) : t.toFixed(3);
}

/** A FLOP/s rate with its unit, e.g. a peak: TFLOP/s on a GPU, GFLOP/s on a software adapter. */
export function fmtRate(flopsPerSec: number | null | undefined): string {
  if (!ok(flopsPerSec)) return NONE;
  return flopsPerSec >= 1e12
    ? `${(flopsPerSec / 1e12).toFixed(1)} TFLOP/s`
    : `${(flopsPerSec / 1e9).toFixed(2)} GFLOP/s`;
}

export function fmtLr(v: number | null | undefined): string {
  if (!ok(v)) return NONE;
  return v === 0 ? '0' : v.toExponential(2);
}

export function fmtNum(v: number | null | undefined, digits = 3): string {
  return ok(v) ? v.toFixed(digits) : NONE;
}

/** Seconds as "42 s", "3 min 05 s", "2 h 07 min". */
export function fmtDuration(sec: number | null | undefined): string {
  if (!ok(sec) || sec < 0) return NONE;
  if (sec < 60) return `${sec < 10 ? sec.toFixed(1) : Math.round(sec)} s`;
  const m = Math.floor(sec / 60);
  if (m < 60) return `${m} min ${String(Math.round(sec % 60)).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${String(m % 60).padStart(2, '0')} min`;
}

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return NONE;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}
