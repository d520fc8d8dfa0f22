// Exports: the grown model (model.safetensors + config.json, loadable by transformers) and the run log, and the
// one place that turns the worker's exported blobs into browser downloads.

import { useEffect, useState } from 'react';
import { fmtBytes } from './format';
import { useApp } from './store';

/** Watches store.downloads and saves each file through a temporary <a download> (the URL is revoked a bit later). */
function Downloads() {
  const pending = useApp((s) => s.downloads.length);
  const [recent, setRecent] = useState<string[]>([]);
  useEffect(() => {
    if (!pending) return;
    const files = useApp.getState().takeDownloads();
    if (!files.length) return;
    for (const f of files) {
      const url = URL.createObjectURL(f.blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = f.name;
      a.style.display = 'none';
      document.body.append(a);
      a.click();
      a.remove();
      // Revoking at once can cancel a download the browser has not started reading yet.
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    }
    setRecent(files.map((f) => `${f.name} (${fmtBytes(f.blob.size)})`));
  }, [pending]);
  if (!recent.length) return null;
  return (
    <p className="muted small" data-testid="downloads">
      Downloaded: {recent.join(', ')}
    </p>
  );
}

export function ExportPanel() {
  const ready = useApp((s) => s.gpu.status === 'ready');
  // One export at a time: a double click would download everything twice.
  const pending = useApp((s) => s.exportPending);
  const send = useApp((s) => s.send);
  const { current, log } = useApp((s) => s.models);
  const [dtype, setDtype] = useState<'F32' | 'BF16'>('F32');
  const ask = (what: 'model' | 'log-json' | 'log-csv') => () => {
    useApp.setState({ exportPending: true });
    send({ type: 'export', what, ...(what === 'model' ? { dtype } : {}) });
  };
  return (
    <section className="card" data-testid="export-panel">
      <h2>Export</h2>
      <div className="actions">
        <button
          type="button"
          className="primary"
          data-testid="export"
          disabled={!ready || pending || !current}
          onClick={ask('model')}
          title={
            current
              ? `${current}: model.safetensors + config.json (Hugging Face layout)`
              : 'No model to export yet: start a run or the demo'
          }
        >
          Model
        </button>
        <select
          data-testid="export-dtype"
          value={dtype}
          onChange={(e) => setDtype(e.target.value as 'F32' | 'BF16')}
          title="The exported weights' dtype: F32 as trained, or BF16 (half the size, rounded to nearest even)"
        >
          <option value="F32">F32</option>
          <option value="BF16">BF16</option>
        </select>
        <button
          type="button"
          data-testid="export-log-json"
          disabled={!ready || pending || !log}
          onClick={ask('log-json')}
        >
          Log (JSON)
        </button>
        <button
          type="button"
          data-testid="export-log-csv"
          disabled={!ready || pending || !log}
          onClick={ask('log-csv')}
        >
          Log (CSV)
        </button>
      </div>
      <p className="muted small" data-testid="export-model">
        {current ? (
          <>
            Exports {current}; it loads with <code>AutoModelForCausalLM.from_pretrained(folder)</code>.
          </>
        ) : (
          'No model yet: start a run or the demo.'
        )}
      </p>
      <Downloads />
    </section>
  );
}
