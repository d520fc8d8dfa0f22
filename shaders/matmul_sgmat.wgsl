// The tensor-core matmul: the f32 kernels' contract (matmul.wgsl: C[b] = alpha·op(A[b])·op(B[b]) + bias + beta·C[b],
// any transpose, batch strides or split-K parts, the output include or an epilogue) for f16 A and B on subgroup
// matrices (NVIDIA's tensor cores through VK_KHR_cooperative_matrix, Apple's simdgroup matrices), accumulated in f32.
// op(A) is [M,K]: A stored [M,K], or [K,M] when TRANS_A; op(B) is [K,N]: B stored [K,N], or [N,K] when TRANS_B.
//
// A workgroup holds SGM × SGN subgroups of SGSIZE invocations and computes a BM × BN block of C; each subgroup an
// (FM·SM) × (FN·SN) part of it as FM × FN result matrices of the adapter's SM × SN × SK config, loading its left and
// right matrices at each K step: straight from storage (matmul_sgmat_direct: the workgroup's subgroups share them
// through the caches), or from K slices of TK that the workgroup first copies into workgroup memory
// (matmul_sgmat_staged: each element read from storage once per workgroup). The results
// go through workgroup memory one row of subgroups at a time, from where every invocation stores quads through matmul_store's storeQuad: the same
// bias, beta and epilogues as the f32 kernels. The launcher requires M % BM = N % BN = K % SK = 0 (and a split-K
// chunk that is a multiple of SK), so no load leaves its operand and every K step is whole.
//
// The subgroup-matrix types and calls come from an include: matmul_sgmat_hw (the WGSL builtins) or, for testing the
// tiling and the epilogues on adapters without subgroup matrices, matmul_sgmat_emulated (the same functions in plain
// f32 arithmetic on the halves: exact products, f32 sums in K order).

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
// Rewritten per config and tile by src/tensor/ops/matmul/sgmat.ts:
const SM: u32 = 16u; const SN: u32 = 16u; const SK: u32 = 16u; const FM: u32 = 2u; const FN: u32 = 2u; const SGM: u32 = 2u; const SGN: u32 = 2u; const SGSIZE: u32 = 32u; const TK: u32 = 32u;

const BM: u32 = SGM * FM * SM;
const BN: u32 = SGN * FN * SN;
const THREADS: u32 = SGM * SGN * SGSIZE;

//#include matmul_sgmat_hw
@group(0) @binding(2) var<storage, read> bias: array<f32>;
//#include matmul_out
//#include matmul_store

// One row of subgroups' part of the block of C before the epilogue, row-major [PASS_ROWS][BN]: the rows go out in SGM
// passes, so the K loop's slices (matmul_sgmat_staged) fit beside it in 16 KiB at 64 × 64 on 16 × 16 × 16.
const PASS_ROWS: u32 = FM * SM;
var<workgroup> Ct: array<f32, PASS_ROWS * BN>;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32, lanes: Lanes) {
  let sg = subgroupIndex(lanes, li);
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  let sm = (sg / SGN) * FM * SM; // the subgroup's part of the block
  let sn = (sg % SGN) * FN * SN;
  let aBase = wid.z * p.strideA;
  let bBase = wid.z * p.strideB;
  let cBase = wid.z * p.strideC;
  let kBegin = wid.z * p.kChunk;
  let kStop = select(p.K, min(p.K, kBegin + p.kChunk), p.kChunk != 0u);
  var acc: array<Result, FM * FN>;
//#include matmul_sgmat_direct
  for (var band = 0u; band < SGM; band++) {
    if (sg / SGN == band) { // this row of subgroups (a subgroup-uniform branch)
      for (var i = 0u; i < FM; i++) {
        for (var j = 0u; j < FN; j++) { storeResult(i * SM * BN + sn + j * SN, acc[i * FN + j]); }
      }
    }
    workgroupBarrier();
    for (var q = li; q < PASS_ROWS * BN / 4u; q += THREADS) {
      let row = q / (BN / 4u);
      let col = (q % (BN / 4u)) * 4u;
      let at = row * BN + col;
      let v = vec4<f32>(Ct[at], Ct[at + 1u], Ct[at + 2u], Ct[at + 3u]);
      storeQuad(m0 + band * PASS_ROWS + row, n0 + col, cBase, v);
    }
    workgroupBarrier(); // read out before the next row of subgroups writes
  }
}
