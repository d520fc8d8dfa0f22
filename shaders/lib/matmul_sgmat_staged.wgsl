// matmul_sgmat.wgsl's K loop through workgroup memory (statements spliced into main): the workgroup copies a K slice
// of TK (or what is left of its K range: whole K steps, as the launcher requires) of op(A)'s BM rows into As
// [BM][TK] and of op(B)'s BN columns into Bs [TK][BN], each element read from storage once, consecutive invocations
// on consecutive addresses whatever the transposes; then every subgroup loads its matrices from there, K step by K
// step in order (so each output adds its products in the same order as matmul_sgmat_direct: the same bits).
  for (var k0 = kBegin; k0 < kStop; k0 += TK) {
    let kn = min(TK, kStop - k0);
    workgroupBarrier(); // the previous slice's loads are done
    for (var i = li; i < BM * TK; i += THREADS) {
      if (TRANS_A) {
        let r = i % BM;
        let c = i / BM;
        if (c < kn) { As[r * TK + c] = halfA(aBase + (k0 + c) * p.M + m0 + r); }
      } else {
        let r = i / TK;
        let c = i % TK;
        if (c < kn) { As[i] = halfA(aBase + (m0 + r) * p.K + k0 + c); }
      }
    }
    for (var i = li; i < TK * BN; i += THREADS) {
      if (TRANS_B) {
        let c = i % TK; // the slice's k runs fastest: consecutive in B stored [N, K]
        let n = i / TK;
        if (c < kn) { Bs[c * BN + n] = halfB(bBase + (n0 + n) * p.K + k0 + c); }
      } else {
        let c = i / BN;
        let n = i % BN;
        if (c < kn) { Bs[i] = halfB(bBase + (k0 + c) * p.N + n0 + n); }
      }
    }
    workgroupBarrier();
    for (var s = 0u; s < kn; s += SK) {
      var l: array<Left, FM>;
      var r: array<Right, FN>;
      for (var i = 0u; i < FM; i++) { l[i] = leftStaged((sm + i * SM) * TK + s); }
      for (var j = 0u; j < FN; j++) { r[j] = rightStaged(s * BN + sn + j * SN); }
      for (var i = 0u; i < FM; i++) {
        for (var j = 0u; j < FN; j++) { acc[i * FN + j] = multiplyAdd(l[i], r[j], acc[i * FN + j]); }
      }
    }
  }
