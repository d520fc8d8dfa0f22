// The top bar: app name, the adapter the engine runs on (and its notable features), the peak FLOP/s that MFU is
// measured against with where it came from, and the run stage badge that tests and users watch.

import { useApp } from './store';
import { fmtRate } from './format';
import { userPeak } from '../train/peak';
import { describeConfig } from '../gpu/capabilities';

/** Features that change what the engine can do or show; the full list sits in the tooltip. */
const NOTABLE = ['timestamp-query', 'shader-f16', 'subgroups'];

function Adapter() {
  const adapter = useApp((s) => s.gpu.adapter);
  const status = useApp((s) => s.gpu.status);
  if (!adapter)
    return <span className="muted">{status === 'starting' ? 'looking for an adapter…' : 'no adapter'}</span>;
  const name = adapter.name || `${adapter.vendor} ${adapter.architecture}`.trim() || 'unnamed adapter';
  return (
    <span className="adapter" data-testid="adapter" title={adapter.features.join('\n') || 'no optional features'}>
      <b>{name}</b>
      {NOTABLE.filter((f) => adapter.features.includes(f)).map((f) => (
        <span key={f} className="chip">
          {f}
        </span>
      ))}
      {!adapter.timestamps && <span className="chip dim">no GPU timestamps</span>}
    </span>
  );
}

/**
 * The precision training runs in, with what the adapter offers past it (tensor cores through subgroup matrices) and,
 * where this browser holds them back, the switch that would unlock them.
 */
function PrecisionInfo() {
  const adapter = useApp((s) => s.gpu.adapter);
  // The run's setting (locked while a run goes): what the next or current run trains in.
  const precision = useApp((s) => s.settings.precision);
  if (!adapter) return null;
  const tc = adapter.capabilities.tensorCores;
  const used = precision === 'f16-mixed' && adapter.tensorCoreTile;
  const title = [
    precision === 'f16-mixed'
      ? `Training precision: f16-mixed (f32 master weights and optimizer state; the blocks' matmuls on f16 weight copies, activations and gradients, accumulated in f32 ${adapter.tensorCoreTile ? `on tensor cores: ${adapter.tensorCoreTile}` : 'by the FP32 kernels'}; dynamic loss scaling).`
      : 'Training precision: fp32 (f32 weights, optimizer state, activations and matmuls).',
    `This adapter: ${adapter.capabilityLine}.`,
    tc && !adapter.tensorCoreTile && !adapter.tensorCoreCheck
      ? 'Tensor cores are listed, but not with one subgroup size: the kernel cannot use them.'
      : '',
    tc && adapter.tensorCoreTile && !used ? 'Tensor cores are there: f16-mixed runs the block products on them.' : '',
    adapter.tensorCoreCheck ? `${adapter.tensorCoreCheck}.` : '',
    adapter.unlock ? `To unlock tensor cores: ${adapter.unlock}.` : '',
  ]
    .filter(Boolean)
    .join('\n');
  return (
    <span className="precision" data-testid="precision" data-precision={precision} title={title}>
      <span className="chip">{precision}</span>
      {tc ? (
        <span className="chip dim" data-testid="tensor-cores">
          tensor cores: {describeConfig(tc)}, {used ? 'in use' : 'unused'}
        </span>
      ) : (
        adapter.unlock && (
          <span className="chip dim" data-testid="tensor-cores">
            tensor cores locked
          </span>
        )
      )}
    </span>
  );
}

function PeakInfo() {
  const enginePeak = useApp((s) => s.peak);
  // A figure entered in the run form is the one MFU is measured against.
  const entered = useApp((s) => s.settings.peakTflops);
  // f16-mixed on tensor cores is measured against the FP16 tensor peak (the engine's peakFor does the same).
  // A peak the user measured replaces the table's for both precisions.
  const tensorPeak = useApp((s) =>
    s.settings.precision === 'f16-mixed' && s.peak?.source === 'device table' ? s.gpu.adapter?.tensorCorePeak : null,
  );
  const peak =
    entered !== null && entered > 0 && Number.isFinite(entered) ? userPeak(entered) : (tensorPeak ?? enginePeak);
  return (
    <span
      className="peak"
      data-testid="peak"
      title={peak ? `${peak.label} (${peak.source})` : 'no peak known: MFU is shown as unknown'}
    >
      MFU peak:{' '}
      {peak ? (
        <>
          <b>{fmtRate(peak.flops)}</b>{' '}
          <span className="muted">
            {peak.source}: {peak.label}
          </span>
        </>
      ) : (
        <span className="muted">unknown — enter one</span>
      )}
    </span>
  );
}

function StageBadge() {
  const stage = useApp((s) => s.stage);
  const detail = useApp((s) => s.stageDetail);
  return (
    <span className="stage-wrap">
      <span className={`badge stage-${stage}`} data-testid="stage" data-stage={stage}>
        {stage}
      </span>
      {detail && (
        <span className="stage-detail" data-testid="stage-detail" title={detail}>
          {detail}
        </span>
      )}
    </span>
  );
}

export function Header() {
  return (
    <header className="topbar">
      <h1>Inheritune Studio</h1>
      <Adapter />
      <PrecisionInfo />
      <PeakInfo />
      <StageBadge />
    </header>
  );
}
