// The attention-rank map of the reference (DESIGN.md "Attention rank"): layers as rows, heads as columns, each cell
// coloured by k* (how many singular values hold 90% of the attention's energy) with m* beside it; lazy layers are
// flagged, and the suggested n with its reason sits underneath. A CSS grid: at most 48×25 cells for GPT-2 XL.

import { useApp } from './store';

/** Pale for rank 1 (a lazy head: one direction, or one column), deep blue for high rank. Log scale: k* spans 1…T. */
function colour(k: number, kMax: number): string {
  const t = kMax > 1 ? Math.log(Math.max(1, k)) / Math.log(kMax) : 0;
  const light = 96 - t * 58;
  return `hsl(214 ${40 + t * 35}% ${light}%)`;
}

export function Heatmap() {
  const analysis = useApp((s) => s.analysis);
  if (!analysis) {
    return (
      <div className="heatmap empty" data-testid="heatmap" data-layers={0}>
        <p className="muted small">The attention-rank map appears once the reference is analysed on the corpus.</p>
      </div>
    );
  }
  const H = analysis.layers[0]?.heads.length ?? 0;
  const kMax = Math.max(2, ...analysis.layers.flatMap((l) => l.heads.map((h) => h.kStar)));
  const dense = H > 12; // too narrow for "k/m" text: the numbers move to the tooltip
  return (
    <div className="heatmap" data-testid="heatmap" data-layers={analysis.layers.length} data-heads={H}>
      <div className="heatmap-head">
        <b>Attention rank</b>
        <span className="muted small">
          k* per head (90% of σ²; m* = columns holding 90% of mass), batch {analysis.B} × {analysis.T} tokens
        </span>
      </div>
      <div
        className={`hm-grid${dense ? ' dense' : ''}`}
        style={{ gridTemplateColumns: `3.2em repeat(${H}, minmax(0, 1fr)) 3em` }}
      >
        <span />
        {Array.from({ length: H }, (_, h) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: a head is its index
          <span key={h} className="hm-col">
            {dense && h % 4 ? '' : `h${h}`}
          </span>
        ))}
        <span />
        {analysis.layers.map((l) => (
          <div
            key={l.layer}
            className={`hm-row${l.lazy ? ' lazy' : ''}`}
            data-lazy={l.lazy}
            style={{ display: 'contents' }}
          >
            <span className="hm-label">L{l.layer}</span>
            {l.heads.map((h, i) => (
              <span
                // biome-ignore lint/suspicious/noArrayIndexKey: a head is its index
                key={i}
                className="hm-cell"
                style={{ background: colour(h.kStar, kMax), color: h.kStar > kMax ** 0.55 ? '#fff' : '#1d2330' }}
                title={`layer ${l.layer}, head ${i}: k* = ${h.kStar}, m* = ${h.mStar}${h.kStar === 1 || h.mStar === 1 ? ' (lazy head)' : ''}`}
              >
                {!dense && (
                  <>
                    {h.kStar}
                    <small>/{h.mStar}</small>
                  </>
                )}
              </span>
            ))}
            <span className="hm-lazy">{l.lazy ? 'lazy' : ''}</span>
          </div>
        ))}
      </div>
      <div className="hm-legend small muted">
        <span className="hm-swatch" style={{ background: colour(1, kMax) }} /> k* = 1
        <span className="hm-swatch" style={{ background: colour(Math.round(Math.sqrt(kMax)), kMax) }} />{' '}
        {Math.round(Math.sqrt(kMax))}
        <span className="hm-swatch" style={{ background: colour(kMax, kMax) }} /> {kMax}
        {!dense && <span> · cells read k*/m*</span>}
      </div>
      <p className="suggestion" data-testid="suggested-n" data-n={analysis.suggestion.n}>
        Suggested n = <b>{analysis.suggestion.n}</b>: <span className="muted">{analysis.suggestion.reason}</span>
      </p>
    </div>
  );
}
