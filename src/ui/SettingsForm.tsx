// The run form: every RunSettings field, bound to store.settings through setSettings, each with the settings schema's
// message shown beside it when refused (validate.ts). Locked while a run holds the settings it started with.

import type { ReactNode } from 'react';
import { CheckField, NumberField, SelectField } from './Field';
import { BASELINE_HELP, BASELINE_KINDS, type BaselineKind, distills } from '../inheritune/baseline-kinds';
import { RUN_FIELDS, type RunSettings } from '../settings/schema';
import type { Errors } from './validate';
import { useApp } from './store';

type NumKey = { [K in keyof RunSettings]: RunSettings[K] extends number ? K : never }[keyof RunSettings];
type BoolKey = { [K in keyof RunSettings]: RunSettings[K] extends boolean ? K : never }[keyof RunSettings];
/** The settings picked from a fixed list (grow mode, inheritance, optimizer, schedule, precision). */
type ChoiceKey = 'grow' | 'inherit' | 'optimizer' | 'schedule' | 'precision';

/** The form's short labels; each field's explanation (its tooltip) is the settings schema's help. */
const LABELS: Record<NumKey, ReactNode> = {
  n: 'n (blocks)',
  stepsPerRound: 'steps / round',
  lr: 'lr',
  muonLr: 'Muon lr',
  warmup: 'warmup',
  batch: 'batch',
  ctx: 'ctx',
  accum: 'accum',
  evalEvery: 'eval every',
  evalWindows: 'eval windows',
  seed: 'seed',
  checkpointEvery: 'snapshot every',
  kdAlpha: 'kd α',
  kdTau: 'kd τ',
  kdBeta: 'kd β',
};

export function SettingsForm({ errors, locked }: { errors: Errors<RunSettings>; locked: boolean }) {
  const settings = useApp((s) => s.settings);
  const set = useApp((s) => s.setSettings);
  const peak = useApp((s) => s.peak);

  const num = (k: NumKey) => (
    <NumberField
      key={k}
      label={LABELS[k]}
      title={RUN_FIELDS[k].help}
      testId={`setting-${k}`}
      value={settings[k]}
      error={errors[k]}
      disabled={locked}
      onChange={(v) => set({ [k]: v ?? NaN } as Partial<RunSettings>)}
    />
  );

  const choice = <K extends ChoiceKey>(
    k: K,
    label: string,
    options: readonly (readonly [RunSettings[K], string])[],
  ) => (
    <SelectField
      key={k}
      label={label}
      testId={`setting-${k}`}
      title={RUN_FIELDS[k].help}
      value={settings[k]}
      options={options}
      disabled={locked}
      onChange={(v) => set({ [k]: v } as Partial<RunSettings>)}
    />
  );

  const check = (k: BoolKey, label: string) => (
    <CheckField
      key={k}
      label={label}
      testId={`setting-${k}`}
      title={RUN_FIELDS[k].help}
      checked={settings[k]}
      disabled={locked}
      onChange={(v) => set({ [k]: v } as Partial<RunSettings>)}
    />
  );

  // The baselines to compare: one box per kind, kept in the kinds' order.
  const compare = (k: BaselineKind) => (
    <CheckField
      key={k}
      label={k}
      testId={`setting-compare-${k}`}
      title={BASELINE_HELP[k]}
      checked={settings.compare.includes(k)}
      disabled={locked}
      onChange={(v) => set({ compare: BASELINE_KINDS.filter((x) => (x === k ? v : settings.compare.includes(x))) })}
    />
  );

  return (
    <div className="form-grid" data-testid="settings">
      {num('n')}
      {num('stepsPerRound')}
      {choice('grow', 'grow', [
        ['restart', 'restart (paper)'],
        ['continue', 'continue'],
      ])}
      {choice('optimizer', 'optimizer', [
        ['adamw', 'AdamW'],
        ['muon', 'Muon + AdamW'],
      ])}
      {choice('schedule', 'schedule', [
        ['cosine', 'warmup + cosine'],
        ['d2z', 'linear to zero'],
      ])}
      {choice('precision', 'precision', [
        ['fp32', 'fp32'],
        ['f16-mixed', 'f16-mixed'],
      ])}
      {num('lr')}
      {settings.schedule === 'cosine' && (
        <NumberField
          label="min lr"
          title={RUN_FIELDS.minLr.help}
          testId="setting-minLr"
          value={settings.minLr}
          nullable
          placeholder={Number.isFinite(settings.lr) ? String(settings.lr / 10) : 'lr / 10'}
          error={errors.minLr}
          disabled={locked}
          onChange={(v) => set({ minLr: v })}
        />
      )}
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
        title={RUN_FIELDS.peakTflops.help}
        testId="setting-peakTflops"
        value={settings.peakTflops}
        nullable
        placeholder={peak ? `${(peak.flops / 1e12).toFixed(1)} (${peak.source})` : 'unknown'}
        error={errors.peakTflops}
        disabled={locked}
        onChange={(v) => set({ peakTflops: v })}
      />
      {choice('inherit', 'inherit', [
        ['all', 'all (paper)'],
        ['attn+mlp', 'attn + mlp'],
        ['attn', 'attention'],
        ['mlp', 'MLP'],
      ])}
      <div className="checks" data-testid="setting-compare" title={RUN_FIELDS.compare.help}>
        <span>compare:</span>
        {BASELINE_KINDS.map(compare)}
      </div>
      {distills(settings.compare) && (
        <>
          {num('kdAlpha')}
          {num('kdTau')}
          {settings.compare.includes('kd-hidden') && num('kdBeta')}
        </>
      )}
      <div className="checks">
        {settings.inherit !== 'all' && check('inheritNorms', 'inherit norms')}
        {check('paperCode', 'paper code')}
        {check('halfActivations', 'f16 activations')}
      </div>
    </div>
  );
}
