// What is loaded: the reference model's shape and size, the corpus and its split, and the reference's validation
// loss on that corpus. Owns the one automatic `analyze` (sent once per reference × corpus × ctx × windows when the
// engine is free) and the manual Re-analyse.

import { useEffect, useRef } from 'react';
import { memoryEstimate } from '../settings/memory';
import { distills } from '../inheritune/baseline-kinds';
import { fmtBytes, fmtCount, fmtLoss, fmtParams } from './format';
import { Heatmap } from './Heatmap';
import { holdsRun } from '../worker/stages';
import { engineWork } from './busy';
import { useApp } from './store';
import type { CorpusInfo, ReferenceInfo } from '../worker/protocol';

interface Sent {
  reference: ReferenceInfo;
  corpus: CorpusInfo;
  ctx: number;
  windows: number;
  /** The newest analyze error's id when sent; a newer one means that analysis failed and is no longer running. */
  errorAt: number;
  failed: boolean;
}

/** Sends `analyze` once for each new (reference, corpus, ctx, windows) while the engine is idle and no val loss is known. */
function useAutoAnalyze(): void {
  const reference = useApp((s) => s.reference);
  const corpus = useApp((s) => s.corpus);
  const refVal = useApp((s) => s.refVal);
  const stage = useApp((s) => s.stage);
  const ready = useApp((s) => s.gpu.status === 'ready');
  const ctx = useApp((s) => s.settings.ctx);
  const windows = useApp((s) => s.settings.evalWindows);
  const lastError = useApp((s) => s.errors.reduce((m, e) => (e.scope === 'analyze' && e.id > m ? e.id : m), 0));
  const working = useApp((s) => engineWork(s.engine));
  // Keyed on the info objects (a re-dropped file with the same name is a new load) and the window shape.
  const sent = useRef<Sent | null>(null);

  useEffect(() => {
    const last = sent.current;
    if (last && lastError > last.errorAt) last.failed = true;
    if (
      !ready ||
      !reference ||
      !corpus ||
      refVal ||
      holdsRun(stage) ||
      working ||
      !windowShapeOk(reference, ctx, windows)
    )
      return;
    if (last && last.reference === reference && last.corpus === corpus) {
      if (last.ctx === ctx && last.windows === windows) return;
      // A new ctx/windows while the first analysis still runs would queue another: wait for it (or its failure).
      if (!last.failed) return;
    }
    // Typing a ctx digit by digit must not fire an analysis per digit: wait for the form to settle.
    const t = setTimeout(() => {
      sent.current = { reference, corpus, ctx, windows, errorAt: lastError, failed: false };
      useApp.getState().send({ type: 'analyze', ctx, windows });
    }, 400);
    return () => clearTimeout(t);
  }, [ready, reference, corpus, refVal, stage, working, ctx, windows, lastError]);
}

function RefInfo({ r }: { r: ReferenceInfo }) {
  return (
    <div className="info" data-testid="reference">
      <div className="info-title">
        <b>{r.label}</b>{' '}
        <span className={`chip${r.origin === 'demo' ? ' accent' : ''}`}>
          {r.origin === 'demo' ? 'trained here (demo)' : 'file'}
        </span>
      </div>
      <dl className="kv">
        <dt>family</dt>
        <dd data-testid="ref-architecture">{r.architecture}</dd>
        <dt>shape</dt>
        <dd data-testid="ref-shape">
          {r.layers} layers × {r.width} wide, {r.heads} query heads
          {r.kvHeads !== r.heads ? ` / ${r.kvHeads} key-value heads` : ''} of {r.headDim}
        </dd>
        <dt>params</dt>
        <dd>
          {fmtParams(r.params)}{' '}
          <span className="muted">
            ({fmtBytes(r.bytes)} {r.dtype})
          </span>
        </dd>
        <dt>positions</dt>
        <dd>{r.positions}</dd>
        <dt>vocab</dt>
        <dd>
          {r.vocab.toLocaleString('en-US')} <span className="muted">({tokenizerLabel(r.tokenizer)})</span>
        </dd>
      </dl>
      <MemoryLine r={r} />
    </div>
  );
}

const tokenizerLabel = (id: string) =>
  id === 'gpt2' ? "GPT-2's BPE" : id.startsWith('hf:') ? `the folder's tokenizer.json, ${id.split(':')[1]}` : id;

/** The planned run's GPU memory, estimated from the form, against what the adapter says it can bind. */
function MemoryLine({ r }: { r: ReferenceInfo }) {
  const s = useApp((st) => st.settings);
  const adapter = useApp((st) => st.gpu.adapter);
  const n = Math.min(Math.max(1, Math.floor(s.n) || 1), r.layers);
  const m = memoryEstimate(r, {
    n,
    batch: Math.max(1, s.batch || 1),
    ctx: Math.max(1, s.ctx || 1),
    optimizer: s.optimizer,
    halfActivations: s.halfActivations,
    precision: s.precision,
    ...(distills(s.compare) ? { teacher: s.compare.includes('kd-hidden') ? 'hidden' : 'logits' } : {}),
  });
  const widest = Math.max(1, s.batch || 1) * Math.max(1, s.ctx || 1) * r.widestActivation * 4;
  const over = adapter && widest > adapter.maxStorageBufferBindingSize;
  const tooBig = adapter && r.largestTensor.bytes > adapter.maxStorageBufferBindingSize;
  return (
    <p className="small" data-testid="memory-estimate">
      <span className="muted">
        planned run (n={n}, batch {s.batch} × ctx {s.ctx}):{' '}
      </span>
      params {fmtBytes(m.params)}
      {s.precision === 'f16-mixed' ? ' (with f16 copies)' : ''} + gradients {fmtBytes(m.grads)} + optimizer{' '}
      {fmtBytes(m.optimizer)} + activations ≈ {fmtBytes(m.activations)} + head {fmtBytes(m.head)}
      {m.teacher > 0 && <> + kd teacher {fmtBytes(m.teacher)}</>} + backward sums ≤ {fmtBytes(m.sums)} ≈{' '}
      <b>{fmtBytes(m.total)}</b>
      {adapter && (
        <span className={over ? 'warn' : 'muted'}>
          {' '}
          · widest activation {fmtBytes(widest)} of the adapter's {fmtBytes(adapter.maxStorageBufferBindingSize)} per
          binding (WebGPU does not report total GPU memory)
        </span>
      )}
      {tooBig && (
        <span className="warn" data-testid="tensor-too-big">
          {' '}
          · {r.largestTensor.name} is {fmtBytes(r.largestTensor.bytes)}, more than this adapter's largest binding (
          {fmtBytes(adapter.maxStorageBufferBindingSize)}, maxStorageBufferBindingSize): this reference cannot be
          trained on this adapter
        </span>
      )}
    </p>
  );
}

function CorpusCard({ c }: { c: CorpusInfo }) {
  return (
    <div className="info" data-testid="corpus">
      <div className="info-title">
        <b>{c.label}</b>
      </div>
      <dl className="kv">
        <dt>size</dt>
        <dd>
          {fmtCount(c.chars)} chars → {fmtCount(c.tokens)} tokens
        </dd>
        <dt>split</dt>
        <dd>
          {fmtCount(c.train)} train / {fmtCount(c.val)} val
        </dd>
      </dl>
    </div>
  );
}

function RefVal() {
  const refVal = useApp((s) => s.refVal);
  const ctx = useApp((s) => s.settings.ctx);
  const windows = useApp((s) => s.settings.evalWindows);
  const analyzing = useApp((s) => Object.keys(s.progress).some((t) => /analy|rank|val/i.test(t)));
  const stale = refVal && (refVal.ctx !== ctx || refVal.windows !== windows);
  return (
    <div className="refval">
      <span>reference val loss</span>{' '}
      <b className="big num" data-testid="ref-val">
        {fmtLoss(refVal?.valLoss)}
      </b>{' '}
      {refVal ? (
        <span className="muted small">
          ctx {refVal.ctx} × {refVal.windows} windows
          {stale && (
            <span className="warn">
              {' '}
              · the form now says ctx {ctx} × {windows}: Re-analyse so runs compare like with like
            </span>
          )}
        </span>
      ) : (
        <span className="muted small">{analyzing ? 'measuring…' : 'not measured yet'}</span>
      )}
    </div>
  );
}

/** The form's context and window count can be analysed on this reference. */
function windowShapeOk(reference: { positions: number } | null, ctx: number, windows: number): boolean {
  return (
    !!reference &&
    Number.isInteger(ctx) &&
    ctx >= 1 &&
    ctx <= reference.positions &&
    Number.isInteger(windows) &&
    windows >= 1
  );
}

export function ReferenceCard() {
  useAutoAnalyze();
  const reference = useApp((s) => s.reference);
  const corpus = useApp((s) => s.corpus);
  const stage = useApp((s) => s.stage);
  const ready = useApp((s) => s.gpu.status === 'ready');
  const ctx = useApp((s) => s.settings.ctx);
  const windows = useApp((s) => s.settings.evalWindows);
  const send = useApp((s) => s.send);
  const working = useApp((s) => engineWork(s.engine));
  const canAnalyze =
    ready && !!reference && !!corpus && !holdsRun(stage) && !working && windowShapeOk(reference, ctx, windows);

  return (
    <section className="card" data-testid="reference-card">
      <div className="card-head">
        <h2>Reference</h2>
        <button
          type="button"
          data-testid="analyze"
          disabled={!canAnalyze}
          onClick={() => send({ type: 'analyze', ctx, windows })}
          title="Reference val loss and attention ranks at the form's ctx and eval windows"
        >
          Re-analyse
        </button>
      </div>
      {reference ? (
        <RefInfo r={reference} />
      ) : (
        <p className="muted">
          No reference yet: drop a checkpoint folder's files (model.safetensors or its shards, config.json, and
          tokenizer.json for the Llama family), or run the demo, which trains one here.
        </p>
      )}
      {corpus ? (
        <CorpusCard c={corpus} />
      ) : (
        <p className="muted">No corpus yet: drop a .txt file (the demo uses the bundled Shakespeare).</p>
      )}
      <RefVal />
      <Heatmap />
    </section>
  );
}
