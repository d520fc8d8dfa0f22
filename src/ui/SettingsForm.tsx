// The run form: every RunSettings field, bound to store.settings through setSettings, each with its client-side
// check (validate.ts) shown beside it. Locked while a run holds the settings it started with.

import type { ReactNode } from 'react';
import { CheckField, NumberField, SelectField } from './Field';
import type { RunSettings } from '../worker/protocol';
import type { Errors } from './validate';
import { useApp } from './store';

type NumKey = { [K in keyof RunSettings]: RunSettings[K] extends number ? K : never }[keyof RunSettings];
type BoolKey = { [K in keyof RunSettings]: RunSettings[K] extends boolean ? K : never }[keyof RunSettings];

const LABELS: Record<NumKey, [ReactNode, string]> = {
  n: ['n (blocks)', 'Blocks inherited in the first round; each later round adds 2'],
  stepsPerRound: ['steps / round', 'Updates trained in every round (the schedule restarts per round)'],
  lr: ['lr', 'Peak learning rate (AdamW; with Muon, for embeddings, norms and biases)'],
  muonLr: ['Muon lr', "Muon's peak learning rate for the hidden matrices"],
  warmup: ['warmup', 'Linear warmup updates at the start of each round'],
  batch: ['batch', 'Sequences per micro-batch (B)'],
  ctx: ['ctx', 'Tokens per sequence (T); the reference val loss is measured at this length too'],
  accum: ['accum', 'Micro-batches accumulated per update'],
  evalEvery: ['eval every', 'Validate every this many updates (0: only at round ends)'],
  evalWindows: ['eval windows', 'Validation windows of ctx+1 tokens (the same for the reference and every model)'],
  seed: ['seed', 'Seeds batches and random init'],
  checkpointEvery: [
    'snapshot every',
    'Save the run to the browser (OPFS) every this many updates (0: round ends and pauses only)',
  ],
};

export function SettingsForm({ errors, locked }: { errors: Errors<RunSettings>; locked: boolean }) {
  const settings = useApp((s) => s.settings);
  const set = useApp((s) => s.setSettings);
  const peak = useApp((s) => s.peak);

  const num = (k: NumKey) => (
    <NumberField
      key={k}
      label={LABELS[k][0]}
      title={LABELS[k][1]}
      testId={`setting-${k}`}
      value={settings[k]}
      error={errors[k]}
      disabled={locked}
      onChange={(v) => set({ [k]: v ?? NaN } as Partial<RunSettings>)}
    />
  );

  const check = (k: BoolKey, label: string, title: string) => (
    <CheckField
      key={k}
      label={label}
      testId={`setting-${k}`}
      title={title}
      checked={settings[k]}
      disabled={locked}
      onChange={(v) => set({ [k]: v } as Partial<RunSettings>)}
    />
  );

  return (
    <div className="form-grid" data-testid="settings">
      {num('n')}
      {num('stepsPerRound')}
      <SelectField
        label="grow"
        testId="setting-grow"
        title="restart: re-inherit n+2 blocks from the reference (the paper); continue: keep the trained model, append 2 blocks"
        value={settings.grow}
        options={[
          ['restart', 'restart (paper)'],
          ['continue', 'continue'],
        ]}
        disabled={locked}
        onChange={(grow) => set({ grow })}
      />
      <SelectField
        label="optimizer"
        testId="setting-optimizer"
        value={settings.optimizer}
        options={[
          ['adamw', 'AdamW'],
          ['muon', 'Muon + AdamW'],
        ]}
        disabled={locked}
        onChange={(optimizer) => set({ optimizer })}
      />
      <SelectField
        label="schedule"
        testId="setting-schedule"
        title="cosine: warmup then cosine to min lr; d2z: warmup then linear decay to zero"
        value={settings.schedule}
        options={[
          ['cosine', 'warmup + cosine'],
          ['d2z', 'linear to zero'],
        ]}
        disabled={locked}
        onChange={(schedule) => set({ schedule })}
      />
      {num('lr')}
      {settings.optimizer === 'muon' && num('muonLr')}
      {num('warmup')}
      {num('batch')}
      {num('ctx')}
      {num('accum')}
      {num('evalEvery')}
      {num('evalWindows')}
      {num('seed')}
      {num('checkpointEvery')}
      <NumberField
        label="peak TFLOP/s"
        title="Your GPU's peak for MFU; empty uses the device table or a measured roofline"
        testId="setting-peakTflops"
        value={settings.peakTflops}
        nullable
        placeholder={peak ? `${(peak.flops / 1e12).toFixed(1)} (${peak.source})` : 'unknown'}
        error={errors.peakTflops}
        disabled={locked}
        onChange={(v) => set({ peakTflops: v })}
      />
      <div className="checks">
        {check(
          'baseline',
          'baseline',
          "Also train the final size from random init for the same steps (the paper's baseline)",
        )}
        {check('paperCode', 'paper code', "Leave wpe and ln_f at random init, as the authors' code does")}
        {check(
          'halfActivations',
          'f16 activations',
          'Keep the activations backward reads at the matmul inputs as f16: less GPU memory per token, so a larger batch fits; weights, gradients, optimizer and validation stay f32 (loss moves by ~1e-4 relative)',
        )}
      </div>
    </div>
  );
}
