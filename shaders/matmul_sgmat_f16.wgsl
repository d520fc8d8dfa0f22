// C = op(A)·op(B) on subgroup matrices (tensor cores: NVIDIA through VK_KHR_cooperative_matrix, Apple's simdgroup
// matrices): A and B are halves (an f16 tensor's storage: two per word, the first in the low bits, which is
// array<f16>'s layout), products accumulated in f32, C f32 [M,N]. op(A) is [M,K]: A is stored [M,K], or [K,M] when
// transposed; op(B) is [K,N]: B stored [K,N], or [N,K] when transposed (the launcher writes each layout into the
// loads, as the template argument takes no expression).
// A workgroup holds SGM × SGN subgroups of SGSIZE invocations (the adapter's one subgroup size; the launcher runs this
// kernel only where the smallest and largest are equal) and computes a BM × BN block of C; each subgroup an
// (FM·SM) × (FN·SN) part of it as FM × FN result matrices of the adapter's SM × SN × SK config, loading its left and
// right matrices straight from storage for each K step (the workgroup's subgroups share them through the caches).
// The launcher requires M % BM = N % BN = K % SK = 0.

enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;

// Rewritten per config and tile by src/tensor/ops/matmul/sgmat.ts:
const SM: u32 = 16u; const SN: u32 = 16u; const SK: u32 = 16u; const FM: u32 = 2u; const FN: u32 = 2u; const SGM: u32 = 2u; const SGN: u32 = 2u; const SGSIZE: u32 = 32u;

struct Params { M: u32, N: u32, K: u32 }

@group(0) @binding(0) var<storage, read> A: array<f16>;
@group(0) @binding(1) var<storage, read> B: array<f16>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const BM: u32 = SGM * FM * SM;
const BN: u32 = SGN * FN * SN;

alias Left = subgroup_matrix_left<f16, SK, SM>;
alias Right = subgroup_matrix_right<f16, SN, SK>;
alias Result = subgroup_matrix_result<f32, SN, SM>;

/** The left matrix of op(A) at rows m.., columns k.. (A [M,K] row-major, or [K,M]: its transpose, column-major). */
fn loadLeft(m: u32, k: u32) -> Left {
  return subgroupMatrixLoad<Left, LAYOUT_A>(&A, OFFSET_A, STRIDE_A);
}

/** The right matrix of op(B) at rows k.., columns n.. (B [K,N] row-major, or [N,K]: column-major). */
fn loadRight(k: u32, n: u32) -> Right {
  return subgroupMatrixLoad<Right, LAYOUT_B>(&B, OFFSET_B, STRIDE_B);
}

@compute @workgroup_size(SGM * SGN * SGSIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_id) sg: u32) {
  let m0 = wid.y * BM + (sg / SGN) * FM * SM;
  let n0 = wid.x * BN + (sg % SGN) * FN * SN;
  var acc: array<Result, FM * FN>;
  for (var k = 0u; k < p.K; k += SK) {
    var l: array<Left, FM>;
    var r: array<Right, FN>;
    for (var i = 0u; i < FM; i++) { l[i] = loadLeft(m0 + i * SM, k); }
    for (var j = 0u; j < FN; j++) { r[j] = loadRight(k, n0 + j * SN); }
    for (var i = 0u; i < FM; i++) {
      for (var j = 0u; j < FN; j++) {
        acc[i * FN + j] = subgroupMatrixMultiplyAccumulate(l[i], r[j], acc[i * FN + j]);
      }
    }
  }
  for (var i = 0u; i < FM; i++) {
    for (var j = 0u; j < FN; j++) {
      subgroupMatrixStore<row_major>(&C, (m0 + i * SM) * p.N + n0 + j * SN, acc[i * FN + j], p.N);
    }
  }
}
