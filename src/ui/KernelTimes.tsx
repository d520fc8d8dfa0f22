// Where the GPU time of an update goes, per kernel (timestamp queries, profiled every so often by the worker):
// a sorted bar list with each kernel's share, so the slow kernel is the first line.

import { useApp } from './store';

export function KernelTimes() {
  const times = useApp((s) => s.kernelTimes);
  const timestamps = useApp((s) => s.gpu.adapter?.timestamps ?? false);
  const sorted = [...times].sort((a, b) => b.ms - a.ms);
  const total = sorted.reduce((a, t) => a + t.ms, 0);
  const max = sorted[0]?.ms ?? 0;
  return (
    <section className="card" data-testid="kernel-times" data-count={sorted.length}>
      <h2>GPU time per kernel {total > 0 && <span className="muted small">· {total.toFixed(1)} ms profiled</span>}</h2>
      {sorted.length === 0 ? (
        <p className="muted small">
          {timestamps ? 'Kernel times appear a few updates into a run.' : 'timestamp-query unavailable on this adapter'}
        </p>
      ) : (
        <ul className="kernel-list">
          {sorted.map((t) => (
            <li
              key={t.label}
              title={`${t.label}: ${t.ms.toFixed(3)} ms over ${t.count} dispatches (${(t.ms / Math.max(1, t.count)).toFixed(3)} ms each)`}
            >
              <span className="kernel-label">{t.label}</span>
              <span className="kernel-bar">
                <span className="bar-fill" style={{ width: `${max > 0 ? (100 * t.ms) / max : 0}%` }} />
              </span>
              <span className="kernel-pct num">{total > 0 ? ((100 * t.ms) / total).toFixed(1) : '0.0'}%</span>
              <span className="kernel-ms num muted">{t.ms >= 100 ? t.ms.toFixed(0) : t.ms.toFixed(1)} ms</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
