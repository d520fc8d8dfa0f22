// What the training commands share: the output folder (claimed with a lock, refused when it already holds a run), the
// start record that says what MFU is measured against, the live line per training event, and the settings context of
// a reference and corpus.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describeCapabilities, type Precision, unlockHint } from '../gpu/capabilities';
import { isSoftwareAdapter } from '../gpu/device';
import type { Gpu } from '../gpu/runtime';
import type { ModelConfig } from '../model/family';
import { familyOf } from '../model/registry';
import type { SettingsContext } from '../settings/schema';
import { describeTile, sgmatTile } from '../tensor/ops/matmul/sgmat';
import { type TensorCoreVerdict, verifyTensorCores } from '../tensor/ops/matmul/tensor-cores';
import type { StateStore } from '../train/snapshot';
import type { Peak } from '../train/peak';
import { RUN_FILES } from '../train/run-folder';
import type { TrainEvent } from '../train/trainer';
import { type Parsed, UsageError } from './args';
import { say, status, stepLine } from './live';
import { lockOutDir } from './lock';
import { resolvePeak, snapshotPrecision } from './settings';

/** The --out folder, claimed for this process; a folder with a snapshot needs --resume. */
export function requireOut(f: Parsed): string {
  const out = f.out as string | undefined;
  if (!out) throw new UsageError('--out DIR is required (where the model, log and snapshots go)');
  lockOutDir(out);
  if (!f.resume && existsSync(join(out, RUN_FILES.state))) {
    throw new UsageError(
      `${out} already holds a run (${RUN_FILES.state}): pass --resume to continue it, or choose another --out`,
    );
  }
  return out;
}

/** What the settings of a run on `config` (named `label` in messages) and a corpus of these splits are checked against. */
export function settingsContext(
  config: ModelConfig,
  corpus: { train: number; val: number },
  label: string,
): SettingsContext {
  const family = familyOf(config);
  return {
    reference: {
      layers: config.layers,
      positions: config.positions,
      widestActivation: family.widestActivation(config),
      label,
    },
    corpus,
  };
}

/**
 * The start of a training command on its device: tensor cores checked before anything trusts them (a wrong tile is
 * turned off, saying so), the MFU peak at the precision the run trains at (a resumed run's: its snapshot's), and the
 * start line. Returns the peak and the log's start record.
 */
export async function startOnDevice(
  f: Parsed,
  gpu: Gpu,
  argv: string[],
  store: StateStore,
  precision: Precision,
): Promise<{ peak: Peak; start: ReturnType<typeof announce> }> {
  const verdict = await verifyTensorCores(gpu);
  if (verdict) say(verdict.detail);
  const at = f.resume ? await snapshotPrecision(store) : precision;
  const peak = await resolvePeak(f, gpu, at);
  return { peak, start: announce(gpu, peak, argv, !!f.resume, verdict, at) };
}

/** Says what MFU is measured against and whether shaders check bounds; returns the log's start record. */
export function announce(
  gpu: Gpu,
  peak: Peak,
  argv: string[],
  resume: boolean,
  tensorCoreCheck: TensorCoreVerdict | null,
  precision: Precision,
) {
  say(`peak for MFU: ${(peak.flops / 1e12).toFixed(3)} TFLOP/s (${peak.source}: ${peak.label})`);
  if (!gpu.boundsChecks) say('shaders compiled without bounds checks (--no-bounds-checks)');
  const hint = unlockHint(gpu.capabilities, {
    where: 'node',
    vendor: gpu.description.vendor,
    software: isSoftwareAdapter(gpu.description),
    toggles: gpu.toggles.includes('allow_unsafe_apis'),
  });
  const tile = sgmatTile(gpu);
  const what = `${
    precision === 'f16-mixed'
      ? tile
        ? `precision f16-mixed (f16 weight copies, activations and output gradients; the block and head products on tensor cores, ${describeTile(tile)}, accumulated in f32: MFU against the FP16 tensor peak)`
        : 'precision f16-mixed (f16 weight copies, activations and output gradients; no tensor cores here, so the FP32 kernels accumulate: MFU against the FP32 peak)'
      : 'precision fp32'
  }${resume ? ', as the snapshot was saved' : ''}`;
  say(`${what}; the device: ${describeCapabilities(gpu.capabilities)}${hint ? ` (to unlock: ${hint})` : ''}`);
  return {
    type: 'start',
    argv,
    peak,
    adapter: gpu.description.description || gpu.description.architecture,
    boundsChecks: gpu.boundsChecks,
    precision: resume ? null : precision,
    capabilities: gpu.capabilities,
    tensorCores: tile ? describeTile(tile) : null,
    tensorCoreCheck,
    toggles: gpu.toggles,
    resume,
  };
}

/** Logs every training event; a status line per step (every 10th on a pipe), a line per evaluation and halt. */
export function onTrainEvent(prefixOf: () => string, total: () => number, log: (e: object) => void) {
  return (e: TrainEvent) => {
    const prefix = prefixOf();
    log(e);
    if (e.type === 'step') status(stepLine(prefix, e, total()), (e.step + 1) % 10 === 0 || e.step + 1 === total());
    else if (e.type === 'eval') say(`${prefix}step ${e.step}: val loss ${e.valLoss.toFixed(4)}`);
    else say(`${prefix}halted: ${e.reason}`);
  };
}
