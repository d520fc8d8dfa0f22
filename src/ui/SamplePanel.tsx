// Sampling text from the model being trained (or the last one trained): prompt and decoding settings, and the
// output streaming in as the worker decodes it. The prompt is shown before the output but is not part of it.

import { useState } from 'react';
import { NumberField } from './Field';
import { useApp } from './store';

export function SamplePanel() {
  const sample = useApp((s) => s.sample);
  const ready = useApp((s) => s.gpu.status === 'ready');
  const send = useApp((s) => s.send);
  // The engine says which model a sample would come from; without one, Sample waits.
  const current = useApp((s) => s.models.current);
  const [prompt, setPrompt] = useState('ROMEO:');
  const [tokens, setTokens] = useState<number>(60);
  const [temperature, setTemperature] = useState<number>(0.8);
  const [topK, setTopK] = useState<number>(40);
  const [shownPrompt, setShownPrompt] = useState('');

  const errors = {
    tokens: Number.isInteger(tokens) && tokens >= 1 && tokens <= 1000 ? undefined : 'a whole number from 1 to 1000',
    temperature: Number.isFinite(temperature) && temperature >= 0 ? undefined : 'must be ≥ 0',
    topK: Number.isInteger(topK) && topK >= 0 ? undefined : 'a whole number ≥ 0 (0: all)',
  };
  const invalid = Object.values(errors).some(Boolean);
  const go = () => {
    setShownPrompt(prompt);
    send({ type: 'sample', prompt, tokens, temperature, topK });
  };

  return (
    <section className="card" data-testid="sample-panel">
      <h2>Sample</h2>
      <p className="muted small" data-testid="sample-model">
        {current ? `From ${current}.` : 'No model yet: start a run or the demo.'}
      </p>
      <textarea
        data-testid="sample-prompt"
        rows={2}
        value={prompt}
        onChange={(e) => setPrompt(e.target.value)}
        spellCheck={false}
        aria-label="prompt"
      />
      <div className="form-grid compact">
        <NumberField
          label="tokens"
          testId="sample-tokens"
          value={tokens}
          error={errors.tokens}
          onChange={(v) => setTokens(v ?? NaN)}
        />
        <NumberField
          label="temperature"
          testId="sample-temperature"
          value={temperature}
          error={errors.temperature}
          onChange={(v) => setTemperature(v ?? NaN)}
        />
        <NumberField
          label="top-k"
          testId="sample-topk"
          value={topK}
          error={errors.topK}
          onChange={(v) => setTopK(v ?? NaN)}
        />
        <div className="field">
          <span className="field-label" aria-hidden="true">
            &nbsp;
          </span>
          <button
            type="button"
            className="primary"
            data-testid="sample"
            disabled={!ready || sample.running || invalid || !current}
            title={current ? `Sample from ${current}` : 'No model to sample from yet: start a run or the demo'}
            onClick={go}
          >
            {sample.running ? 'Sampling…' : 'Sample'}
          </button>
        </div>
      </div>
      <pre className="sample-out" aria-busy={sample.running}>
        {(sample.text || sample.running) && <span className="sample-prompt">{shownPrompt}</span>}
        <span data-testid="sample-output" data-running={sample.running}>
          {sample.text}
        </span>
        {sample.running && <span className="caret" aria-hidden="true" />}
      </pre>
    </section>
  );
}
