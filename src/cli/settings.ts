// The settings flags of `inheritune run` and `inheritune train`, made from the settings schema (its fields' flags,
// kinds and help): parsed over the schema's defaults and checked by its rules, so the CLI refuses what the page and
// the worker refuse, in the same words (prefixed with the flag); and the peak FLOP/s for MFU.

import type { ExportDtype } from '../model/checkpoint';
import { type NodeDeviceOptions, tensorCoresMode } from '../gpu/node';
import type { Gpu } from '../gpu/runtime';
import type { Precision } from '../gpu/capabilities';
import { sgmatTile } from '../tensor/ops/matmul/sgmat';
import { measureMatmulPeak, type Peak, peakFromTable, userPeak } from '../train/mfu';
import { peakPrecision } from '../train/peak';
import { openSnapshot, type StateStore } from '../train/snapshot';
import {
  assertValid,
  defaultWarmup,
  defaultWindows,
  type FieldSpec,
  RUN_FIELDS,
  SettingsError,
  type SettingsIssue,
  TRAINING_FIELDS,
  type TrainingSettings,
} from '../settings/schema';
import { type FlagSpec, type Parsed, UsageError } from './args';

const FLAG_TYPES: Record<FieldSpec['kind']['type'], FlagSpec['type']> = {
  int: 'int',
  number: 'number',
  choice: 'string',
  set: 'string',
  bool: 'bool',
};

function flagsOf(fields: Record<string, FieldSpec>): Record<string, FlagSpec> {
  return Object.fromEntries(Object.values(fields).map((f) => [f.flag, { type: FLAG_TYPES[f.kind.type] }]));
}

/** The options every training command takes besides the settings. */
const COMMON_FLAGS: Record<string, FlagSpec> = {
  data: { type: 'string', required: true },
  out: { type: 'string' },
  resume: { type: 'bool' },
  json: { type: 'bool' },
  'no-bounds-checks': { type: 'bool' },
  'tensor-cores': { type: 'string' },
  dtype: { type: 'string' },
};

/** --dtype: the written model's dtype (f32, the default, or bf16: half the bytes, rounded to nearest even). */
export function exportDtype(f: Parsed): ExportDtype {
  const v = (f.dtype as string | undefined) ?? 'f32';
  if (v === 'f32' || v === 'F32') return 'F32';
  if (v === 'bf16' || v === 'BF16') return 'BF16';
  throw new UsageError(`--dtype must be f32 or bf16, got ${JSON.stringify(v)}`);
}

export const TRAIN_FLAGS: Record<string, FlagSpec> = { ...COMMON_FLAGS, ...flagsOf(TRAINING_FIELDS) };

/**
 * Inheritune's own settings flags (n, steps per round, grow, compare, inherit, paper code), and `--baseline`, kept from
 * before `--compare` as another way to ask for the scratch baseline.
 */
export const RUN_FLAGS: Record<string, FlagSpec> = {
  ...flagsOf(Object.fromEntries(Object.entries(RUN_FIELDS).filter(([k]) => !(k in TRAINING_FIELDS)))),
  baseline: { type: 'bool' },
};

/** A set field's flag value: comma-separated names (blank ones dropped; `none` for the empty set). */
const setValue = (v: string): string[] =>
  v.trim() === 'none'
    ? []
    : v
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);

/** The settings whose flags were given, over `base` (the schema's defaults for this reference and corpus). */
export function settingsFromFlags<S extends object>(f: Parsed, fields: Record<keyof S, FieldSpec>, base: S): S {
  const out = { ...base } as Record<string, unknown>;
  for (const [key, spec] of Object.entries(fields) as [string, FieldSpec][]) {
    const v = f[spec.flag];
    if (v !== undefined) out[key] = spec.kind.type === 'set' && typeof v === 'string' ? setValue(v) : v;
  }
  if (f.baseline && Array.isArray(out.compare) && !out.compare.includes('scratch'))
    out.compare = ['scratch', ...out.compare];
  return out as S;
}

/**
 * The defaults that depend on other flags: the warmup follows the steps given (a tenth of a round), the validation
 * windows the context given (20, or as many as fit), each unless given itself.
 */
export function followDefaults<T extends Pick<TrainingSettings, 'warmup' | 'evalWindows' | 'ctx'>>(
  f: Parsed,
  s: T,
  steps: number,
  val: number,
): T {
  return {
    ...s,
    warmup: f.warmup === undefined ? defaultWarmup(steps) : s.warmup,
    evalWindows: f.windows === undefined ? defaultWindows(val, s.ctx) : s.evalWindows,
  };
}

/** Refuses the first problem as a usage error naming its flag. */
export function refuse(issues: readonly SettingsIssue[], fields: Record<string, FieldSpec>): void {
  try {
    assertValid(issues);
  } catch (e) {
    if (!(e instanceof SettingsError)) throw e;
    const flag = fields[e.issue.field]?.flag;
    throw new UsageError(flag ? `--${flag}: ${e.message}` : e.message);
  }
}

function usageLine(fields: Record<string, FieldSpec>): string {
  return Object.values(fields)
    .map((f) =>
      f.kind.type === 'bool'
        ? `[--${f.flag}]`
        : `[--${f.flag} ${f.kind.type === 'choice' ? f.kind.values.join('|') : f.kind.type === 'set' ? `${f.kind.values.join(',')}` : 'X'}]`,
    )
    .join(' ');
}

export const TRAIN_FLAGS_USAGE = `      training: ${usageLine(TRAINING_FIELDS)}
        [--out DIR] [--resume] [--no-bounds-checks] [--tensor-cores auto|on|off] [--dtype f32|bf16]
${Object.values(TRAINING_FIELDS)
  .map((f) => `      --${f.flag}: ${f.help}`)
  .join('\n')}
      --dtype: the written model.safetensors' dtype, f32 (default) or bf16 (rounded to nearest even; half the size).
      --no-bounds-checks: compile shaders without Dawn's per-access index clamping (browsers always clamp); every
        kernel is tested that way too, and the results are the same; whether it is faster depends on the GPU
        (npm run bench measures it).
      --tensor-cores: make the device with Dawn's toggles allow_unsafe_apis and vulkan_enable_f16_on_nvidia, which
        expose shader-f16 and the experimental subgroup matrices (tensor cores) Dawn withholds by default; auto (the
        default) turns them on for NVIDIA adapters only. Training runs in fp32 either way: the start says what the
        device offers.`;

/** The Node device a training command asks for: --no-bounds-checks and --tensor-cores. */
export function nodeDeviceOptions(f: Parsed): NodeDeviceOptions {
  try {
    return { boundsChecks: !f['no-bounds-checks'], tensorCores: tensorCoresMode(f['tensor-cores']) };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/**
 * The precision a --resume run trains at: its snapshot's settings' (fp32 where it has none; where the snapshot is
 * missing or unreadable, fp32 too, and the resume itself then stops with the reason).
 */
export async function snapshotPrecision(store: StateStore): Promise<Precision> {
  try {
    const snap = await openSnapshot(store);
    if (!snap) return 'fp32';
    try {
      return snap.meta.settings?.precision ?? 'fp32';
    } finally {
      await snap.close();
    }
  } catch {
    return 'fp32';
  }
}

/**
 * The peak MFU is measured against: --peak-tflops, else the device table's for the precision the products run in
 * (f16-mixed on tensor cores: the FP16 tensor peak; peakPrecision), else a measured f32 matmul peak. A resumed run
 * passes its snapshot's precision (snapshotPrecision).
 */
export async function resolvePeak(f: Parsed, gpu: Gpu, precision: Precision = 'fp32'): Promise<Peak> {
  if (f['peak-tflops'] !== undefined) {
    try {
      return userPeak(f['peak-tflops'] as number);
    } catch (e) {
      throw new UsageError(`--peak-tflops: ${(e as Error).message}`);
    }
  }
  const onTensorCores = !!sgmatTile(gpu);
  return peakFromTable(gpu.description, peakPrecision(precision, onTensorCores)) ?? (await measureMatmulPeak(gpu));
}
