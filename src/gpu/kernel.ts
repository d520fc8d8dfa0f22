// Kernel metadata: what a WGSL entry point binds, declared beside the op that launches it; WGSL snippet includes.

import finite from '../../shaders/lib/finite.wgsl?raw';
import workgroupReduce from '../../shaders/lib/workgroup_reduce.wgsl?raw';
import workgroupReduceSubgroups from '../../shaders/lib/workgroup_reduce_subgroups.wgsl?raw';
import rowLse from '../../shaders/lib/row_lse.wgsl?raw';
import rowCosine from '../../shaders/lib/row_cosine.wgsl?raw';
import matmulSgmatEmulated from '../../shaders/lib/matmul_sgmat_emulated.wgsl?raw';
import matmulSgmatDirect from '../../shaders/lib/matmul_sgmat_direct.wgsl?raw';
import matmulSgmatStaged from '../../shaders/lib/matmul_sgmat_staged.wgsl?raw';
import matmulSgmatHw from '../../shaders/lib/matmul_sgmat_hw.wgsl?raw';
import matmulStore from '../../shaders/lib/matmul_store.wgsl?raw';
import matmulTile from '../../shaders/lib/matmul_tile.wgsl?raw';
import matmulA from '../../shaders/lib/matmul_a_f32.wgsl?raw';
import matmulAHalf from '../../shaders/lib/matmul_a_f16.wgsl?raw';
import matmulA4 from '../../shaders/lib/matmul_a4_f32.wgsl?raw';
import matmulA4Half from '../../shaders/lib/matmul_a4_f16.wgsl?raw';
import matmulB from '../../shaders/lib/matmul_b_f32.wgsl?raw';
import matmulBHalf from '../../shaders/lib/matmul_b_f16.wgsl?raw';
import matmulB4 from '../../shaders/lib/matmul_b4_f32.wgsl?raw';
import matmulB4Half from '../../shaders/lib/matmul_b4_f16.wgsl?raw';
import matmulOut from '../../shaders/lib/matmul_out.wgsl?raw';
import matmulOutResidual from '../../shaders/lib/matmul_out_residual.wgsl?raw';
import matmulOutGelu from '../../shaders/lib/matmul_out_gelu.wgsl?raw';
import matmulOutGeluHalf from '../../shaders/lib/matmul_out_gelu_f16.wgsl?raw';
import gelu from '../../shaders/lib/gelu.wgsl?raw';
import ceOutHalf from '../../shaders/lib/ce_out_f16.wgsl?raw';
import ceOut from '../../shaders/lib/ce_out_f32.wgsl?raw';
import halfBits from '../../shaders/lib/half_bits.wgsl?raw';
import layernormOut from '../../shaders/lib/layernorm_out_f32.wgsl?raw';
import layernormOutHalf from '../../shaders/lib/layernorm_out_f16.wgsl?raw';
import adamwStep from '../../shaders/lib/adamw_step.wgsl?raw';

/** Storage bindings in binding order (group 0). The uniform struct, if any, is the binding after them. */
export type StorageAccess = 'read' | 'rw';
export type ScalarType = 'u32' | 'i32' | 'f32';

/** What a kernel's module declares: its name, WGSL, entry point (default `main`), bindings and uniforms. */
export interface KernelDef {
  /** Label shown in errors and GPU timings. */
  name: string;
  /** WGSL source (a shaders/*.wgsl file imported with ?raw). */
  source: string;
  entry?: string;
  storage: readonly StorageAccess[];
  /** Fields of the `Params` uniform struct, in declaration order; all 4-byte scalars. */
  uniforms?: readonly (readonly [string, ScalarType])[];
}

/** A kernel as dispatch reads it: every field present, in the one object shape kernel() makes. */
export interface KernelSpec {
  readonly name: string;
  readonly source: string;
  readonly entry: string;
  readonly storage: readonly StorageAccess[];
  readonly uniforms: readonly (readonly [string, ScalarType])[];
}

/**
 * The spec of a kernel, every field present and in one order, so that every spec has one object shape and the loads
 * the hot dispatch path makes from specs stay monomorphic (written in several shapes, with or without uniforms or an
 * entry point, some spread from others, they did not).
 */
export function kernel(d: KernelDef): KernelSpec {
  return { name: d.name, source: d.source, entry: d.entry ?? 'main', storage: d.storage, uniforms: d.uniforms ?? [] };
}

export type Constants = Record<string, number | boolean>;

/** Packs uniform values into `view` at byte `offset`, in the spec's field order. Missing fields are an error. */
export function packUniforms(spec: KernelSpec, values: Record<string, number>, view: DataView, offset: number): number {
  const fields = spec.uniforms;
  fields.forEach(([name, type], i) => {
    const v = values[name];
    if (v === undefined || !Number.isFinite(v)) throw new Error(`Kernel ${spec.name}: uniform "${name}" is ${v}.`);
    const at = offset + 4 * i;
    if (type === 'f32') view.setFloat32(at, v, true);
    else if (type === 'u32') {
      if (v < 0 || !Number.isInteger(v) || v > 0xffffffff)
        throw new Error(`Kernel ${spec.name}: uniform "${name}" = ${v} is not a u32.`);
      view.setUint32(at, v, true);
    } else view.setInt32(at, v, true);
  });
  return paramsBytes(spec);
}

/** Bytes of a kernel's Params struct as packUniforms lays it out: 4 per field, a multiple of 16, at least 16. */
export function paramsBytes(spec: KernelSpec): number {
  return Math.max(16, Math.ceil((4 * spec.uniforms.length) / 16) * 16);
}

/** Bytes of immediates the kernels need at most (a Params struct of 16 four-byte fields). */
export const IMMEDIATE_BYTES = 64;

/** Largest workgroup count per grid dimension that every WebGPU device supports. */
export const MAX_GRID = 65535;

/**
 * Splits `n` workgroups into an x·y grid with x ≤ maxX; kernels rebuild the linear index and ignore the surplus
 * workgroups (x·y may exceed n).
 */
export function grid2d(n: number, maxX = MAX_GRID): [number, number] {
  if (n <= maxX) return [Math.max(1, n), 1];
  const y = Math.ceil(n / maxX);
  return [Math.ceil(n / y), y];
}

/** Snippets in shaders/lib/, by name. */
const LIBS: Record<string, string> = {
  finite,
  workgroup_reduce: workgroupReduce,
  workgroup_reduce_subgroups: workgroupReduceSubgroups,
  row_lse: rowLse,
  row_cosine: rowCosine,
  matmul_tile: matmulTile,
  matmul_store: matmulStore,
  matmul_sgmat_hw: matmulSgmatHw,
  matmul_sgmat_emulated: matmulSgmatEmulated,
  matmul_sgmat_direct: matmulSgmatDirect,
  matmul_sgmat_staged: matmulSgmatStaged,
  matmul_a_f32: matmulA,
  matmul_a_f16: matmulAHalf,
  matmul_a4_f32: matmulA4,
  matmul_a4_f16: matmulA4Half,
  matmul_b_f32: matmulB,
  matmul_b_f16: matmulBHalf,
  matmul_b4_f32: matmulB4,
  matmul_b4_f16: matmulB4Half,
  matmul_out: matmulOut,
  matmul_out_residual: matmulOutResidual,
  matmul_out_gelu: matmulOutGelu,
  matmul_out_gelu_f16: matmulOutGeluHalf,
  gelu,
  half_bits: halfBits,
  ce_out_f32: ceOut,
  ce_out_f16: ceOutHalf,
  layernorm_out_f32: layernormOut,
  layernorm_out_f16: layernormOutHalf,
  adamw_step: adamwStep,
};

/**
 * Library files a device splices in place of others: include name → the replacement's name (same functions and
 * contract, e.g. the subgroup reductions on a device with `subgroups`). Chosen per device by the runtime.
 */
export type LibSwaps = Readonly<Record<string, string>>;

/** Maps a line of expanded WGSL back to its file and line, for error messages. */
export type LineMap = (expandedLine: number) => { file: string; line: number };

/** A global directive (enable, requires, diagnostic): WGSL wants these before every declaration. */
const DIRECTIVE = /^\s*(enable|requires|diagnostic)\b[^;]*;\s*$/;

/**
 * WGSL has no includes: a line `//#include NAME` (the one placeholder kernels may use) is replaced by
 * shaders/lib/NAME.wgsl, or by the library `swaps` names for NAME. Directives a library opens with are moved to the
 * top of the module. Unknown names are an error, not a silent no-op.
 */
export function expandIncludes(source: string, file: string, swaps: LibSwaps = {}): { code: string; mapLine: LineMap } {
  const head: { text: string; file: string; line: number }[] = [];
  const body: { text: string; file: string; line: number }[] = [];
  // Libraries may include libraries; each is spliced in once (a second include of it, or a cycle, adds nothing).
  const spliced = new Set<string>();
  const expand = (text: string, from: string, lib: boolean) => {
    let leading = lib;
    text.split(/\r?\n/).forEach((line, i) => {
      const m = /^\/\/#include (\w+)\s*$/.exec(line);
      if (!m) {
        leading &&= DIRECTIVE.test(line);
        (leading ? head : body).push({ text: line, file: from, line: i + 1 });
        return;
      }
      const name = swaps[m[1]!] ?? m[1]!;
      const code = LIBS[name];
      if (code === undefined) throw new Error(`${from}:${i + 1}: WGSL include "${name}" not found in shaders/lib/`);
      if (spliced.has(name)) return;
      spliced.add(name);
      expand(code, `shaders/lib/${name}.wgsl`, true);
    });
  };
  expand(source, file, false);
  const lines = [...head, ...body];
  return { code: lines.map((l) => l.text).join('\n'), mapLine: (l) => lines[l - 1] ?? { file, line: l } };
}
