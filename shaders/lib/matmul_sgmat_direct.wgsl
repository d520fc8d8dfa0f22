// matmul_sgmat.wgsl's K loop with the subgroup matrices loaded straight from storage: at each K step every subgroup
// loads its FM left and FN right matrices and adds their products into acc (statements spliced into main).
  for (var k = kBegin; k < kStop; k += SK) {
    var l: array<Left, FM>;
    var r: array<Right, FN>;
    for (var i = 0u; i < FM; i++) {
      let m = m0 + sm + i * SM;
      if (TRANS_A) { l[i] = leftCols(aBase + k * p.M + m, p.M); } else { l[i] = leftRows(aBase + m * p.K + k, p.K); }
    }
    for (var j = 0u; j < FN; j++) {
      let n = n0 + sn + j * SN;
      if (TRANS_B) { r[j] = rightCols(bBase + n * p.K + k, p.K); } else { r[j] = rightRows(bBase + k * p.N + n, p.N); }
    }
    for (var i = 0u; i < FM; i++) {
      for (var j = 0u; j < FN; j++) { acc[i * FN + j] = multiplyAdd(l[i], r[j], acc[i * FN + j]); }
    }
  }
