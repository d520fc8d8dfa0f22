// Narrowing a tensor to chosen indices along each axis (the half-width baseline's initialisation, DESIGN.md-style
// "Baselines" in the README): row-major data, one index list per axis (null keeps the axis whole).

/** The first `n` indices. */
export const firstN = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** For `groups` consecutive runs of `size`, the offsets `keep` inside each run: group g gives g·size + k. */
export function perGroup(groups: number, size: number, keep: readonly number[]): number[] {
  const out: number[] = [];
  for (let g = 0; g < groups; g++) for (const k of keep) out.push(g * size + k);
  return out;
}

/** `data` of `shape` (row-major) kept at `keep[axis]` along each axis (null: all of it); 1-D and 2-D tensors. */
export function sliceTensor(
  data: Float32Array,
  shape: readonly number[],
  keep: readonly (readonly number[] | null)[],
): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  if (data.length !== size) throw new Error(`sliceTensor: ${data.length} values for shape [${shape.join(', ')}]`);
  if (keep.length !== shape.length || shape.length < 1 || shape.length > 2)
    throw new Error(`sliceTensor: ${keep.length} index lists for a ${shape.length}-D tensor`);
  const axes = keep.map((k, a) => k ?? firstN(shape[a]!));
  for (let a = 0; a < axes.length; a++)
    for (const i of axes[a]!)
      if (!Number.isInteger(i) || i < 0 || i >= shape[a]!)
        throw new Error(`sliceTensor: index ${i} outside axis ${a} of [${shape.join(', ')}]`);
  if (shape.length === 1) return Float32Array.from(axes[0]!, (i) => data[i]!);
  const [rows, cols] = axes as [number[], number[]];
  const width = shape[1]!;
  const out = new Float32Array(rows.length * cols.length);
  for (let r = 0; r < rows.length; r++) {
    const base = rows[r]! * width;
    for (let c = 0; c < cols.length; c++) out[r * cols.length + c] = data[base + cols[c]!]!;
  }
  return out;
}
