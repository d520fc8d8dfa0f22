enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;

// matmul_sgmat.wgsl's subgroup-matrix types and calls on the WGSL builtins (Dawn's experimental subgroup matrices):
// A and B are halves (array<f16>: an f16 tensor's storage), results f32, stored row-major into the workgroup's Ct.

@group(0) @binding(0) var<storage, read> A: array<f16>;
@group(0) @binding(1) var<storage, read> B: array<f16>;

alias Left = subgroup_matrix_left<f16, SK, SM>;
alias Right = subgroup_matrix_right<f16, SN, SK>;
alias Result = subgroup_matrix_result<f32, SN, SM>;

// The entry point's subgroup builtin: alone in its struct, so the uniformity analysis sees the subgroup-uniform id.
struct Lanes {
  @builtin(subgroup_id) sg: u32,
}

fn subgroupIndex(x: Lanes, li: u32) -> u32 { return x.sg; }

// The SM × SK left matrix at A[off]: rows `stride` apart (row-major), or columns `stride` apart (column-major).
fn leftRows(off: u32, stride: u32) -> Left { return subgroupMatrixLoad<Left, row_major>(&A, off, stride); }
fn leftCols(off: u32, stride: u32) -> Left { return subgroupMatrixLoad<Left, col_major>(&A, off, stride); }
// The SK × SN right matrix at B[off], likewise.
fn rightRows(off: u32, stride: u32) -> Right { return subgroupMatrixLoad<Right, row_major>(&B, off, stride); }
fn rightCols(off: u32, stride: u32) -> Right { return subgroupMatrixLoad<Right, col_major>(&B, off, stride); }

// matmul_sgmat_staged's K slices in workgroup memory (allocated only where that loop uses them), and their loads.
var<workgroup> As: array<f16, BM * TK>;
var<workgroup> Bs: array<f16, TK * BN>;
fn halfA(i: u32) -> f16 { return A[i]; }
fn halfB(i: u32) -> f16 { return B[i]; }
fn leftStaged(off: u32) -> Left { return subgroupMatrixLoad<Left, row_major>(&As, off, TK); }
fn rightStaged(off: u32) -> Right { return subgroupMatrixLoad<Right, row_major>(&Bs, off, BN); }

fn multiplyAdd(l: Left, r: Right, acc: Result) -> Result { return subgroupMatrixMultiplyAccumulate(l, r, acc); }

// The SM × SN result into Ct from Ct[off] on, rows BN apart.
fn storeResult(off: u32, acc: Result) { subgroupMatrixStore<row_major>(&Ct, off, acc, BN); }
