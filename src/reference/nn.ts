// Plain-loop f64 references for the network ops: LayerNorm, causal attention, cross-entropy, embeddings.

import type { F64 } from './linalg';

export function layernormRef(
  x: F64,
  w: F64,
  b: F64,
  rows: number,
  C: number,
  eps = 1e-5,
): { y: F64; mean: F64; rstd: F64 } {
  const y = new Float64Array(rows * C);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < C; c++) m += x[r * C + c]!;
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c]! - m) ** 2;
    v /= C;
    const s = 1 / Math.sqrt(v + eps);
    mean[r] = m;
    rstd[r] = s;
    for (let c = 0; c < C; c++) y[r * C + c] = (x[r * C + c]! - m) * s * w[c]! + b[c]!;
  }
  return { y, mean, rstd };
}

export function layernormBackwardRef(
  x: F64,
  w: F64,
  g: F64,
  rows: number,
  C: number,
  eps = 1e-5,
): { dx: F64; dw: F64; db: F64 } {
  const dx = new Float64Array(rows * C);
  const dw = new Float64Array(C);
  const db = new Float64Array(C);
  const { mean, rstd } = layernormRef(x, w, new Float64Array(C), rows, C, eps);
  for (let r = 0; r < rows; r++) {
    const xh = new Float64Array(C);
    let mg = 0;
    let mgx = 0;
    for (let c = 0; c < C; c++) {
      xh[c] = (x[r * C + c]! - mean[r]!) * rstd[r]!;
      const gw = g[r * C + c]! * w[c]!;
      mg += gw;
      mgx += gw * xh[c]!;
      dw[c] += g[r * C + c]! * xh[c]!;
      db[c] += g[r * C + c]!;
    }
    mg /= C;
    mgx /= C;
    for (let c = 0; c < C; c++) dx[r * C + c] = rstd[r]! * (g[r * C + c]! * w[c]! - mg - xh[c]! * mgx);
  }
  return { dx, dw, db };
}

/**
 * Causal attention from qkv [B,T,(H+2·KV)·D] (columns [q | k | v]; query head h reads key/value head h/(H/KV)) to
 * [B,T,H·D], materialising each head's T×T probabilities (b-major list). KV defaults to H (GPT-2's [B,T,3C]).
 */
export function attentionRef(qkv: F64, B: number, T: number, H: number, D: number, KV = H): { out: F64; probs: F64[] } {
  const C = H * D;
  const at = qkvIndex(T, H, D, KV);
  const out = new Float64Array(B * T * C);
  const probs: F64[] = [];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const P = new Float64Array(T * T);
      for (let t = 0; t < T; t++) {
        let mx = -Infinity;
        for (let j = 0; j <= t; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += qkv[at(b, t, 0, h, d)]! * qkv[at(b, j, 1, h, d)]!;
          P[t * T + j] = s / Math.sqrt(D);
          mx = Math.max(mx, P[t * T + j]!);
        }
        let z = 0;
        for (let j = 0; j <= t; j++) z += Math.exp(P[t * T + j]! - mx);
        for (let j = 0; j <= t; j++) P[t * T + j] = Math.exp(P[t * T + j]! - mx) / z;
        for (let d = 0; d < D; d++) {
          let o = 0;
          for (let j = 0; j <= t; j++) o += P[t * T + j]! * qkv[at(b, j, 2, h, d)]!;
          out[(b * T + t) * C + h * D + d] = o;
        }
      }
      probs.push(P);
    }
  }
  return { out, probs };
}

/** Index into qkv [B,T,(H+2·KV)·D] of part (0 q, 1 k, 2 v) for query head h: k and v are those of head h/(H/KV). */
function qkvIndex(T: number, H: number, D: number, KV: number) {
  const row = (H + 2 * KV) * D;
  const group = H / KV;
  return (b: number, t: number, part: number, h: number, d: number) =>
    (b * T + t) * row + (part === 0 ? h * D : H * D + (part - 1) * KV * D + Math.floor(h / group) * D) + d;
}

export function attentionBackwardRef(qkv: F64, gOut: F64, B: number, T: number, H: number, D: number, KV = H): F64 {
  const C = H * D;
  const { probs } = attentionRef(qkv, B, T, H, D, KV);
  const dqkv = new Float64Array(qkv.length);
  const idx = qkvIndex(T, H, D, KV);
  const sc = 1 / Math.sqrt(D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const P = probs[b * H + h]!;
      for (let t = 0; t < T; t++) {
        // dP[t,j] = dO_t · v_j; dS = P ∘ (dP − Σ_j P dP)
        const dP = new Float64Array(t + 1);
        let dot = 0;
        for (let j = 0; j <= t; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += gOut[(b * T + t) * C + h * D + d]! * qkv[idx(b, j, 2, h, d)]!;
          dP[j] = s;
          dot += P[t * T + j]! * s;
        }
        for (let j = 0; j <= t; j++) {
          const p = P[t * T + j]!;
          const dS = p * (dP[j]! - dot);
          for (let d = 0; d < D; d++) {
            dqkv[idx(b, t, 0, h, d)] += dS * sc * qkv[idx(b, j, 1, h, d)]!;
            dqkv[idx(b, j, 1, h, d)] += dS * sc * qkv[idx(b, t, 0, h, d)]!;
            dqkv[idx(b, j, 2, h, d)] += p * gOut[(b * T + t) * C + h * D + d]!;
          }
        }
      }
    }
  }
  return dqkv;
}

/** Mean cross-entropy over rows whose target is in [0, V); returns the loss and d(loss)/d(logits). */
export function crossEntropyRef(
  logits: F64,
  targets: ArrayLike<number>,
  N: number,
  V: number,
): { loss: number; dlogits: F64 } {
  const dlogits = new Float64Array(N * V);
  let total = 0;
  let count = 0;
  for (let i = 0; i < N; i++) if (targets[i]! >= 0 && targets[i]! < V) count++;
  for (let i = 0; i < N; i++) {
    const tg = targets[i]!;
    if (!(tg >= 0 && tg < V)) continue;
    let mx = -Infinity;
    for (let v = 0; v < V; v++) mx = Math.max(mx, logits[i * V + v]!);
    let z = 0;
    for (let v = 0; v < V; v++) z += Math.exp(logits[i * V + v]! - mx);
    const lse = mx + Math.log(z);
    total += lse - logits[i * V + tg]!;
    for (let v = 0; v < V; v++) dlogits[i * V + v] = (Math.exp(logits[i * V + v]! - lse) - (v === tg ? 1 : 0)) / count;
  }
  return { loss: count ? total / count : 0, dlogits };
}

/**
 * Logit distillation (Hinton et al. 2015) over rows of student logits Z and teacher logits Tz: per scored row
 * α·CE(z, y) + (1−α)·τ²·KL(softmax(t/τ) ‖ softmax(z/τ)), mean over the scored rows; and its gradient w.r.t. Z.
 */
export function distillRef(
  Z: F64,
  Tz: F64,
  targets: ArrayLike<number>,
  N: number,
  V: number,
  alpha: number,
  tau: number,
): { loss: number; dlogits: F64 } {
  const dlogits = new Float64Array(N * V);
  let count = 0;
  for (let i = 0; i < N; i++) if (targets[i]! >= 0 && targets[i]! < V) count++;
  const logSoftmax = (x: F64, i: number, scale: number) => {
    let mx = -Infinity;
    for (let v = 0; v < V; v++) mx = Math.max(mx, x[i * V + v]! * scale);
    let z = 0;
    for (let v = 0; v < V; v++) z += Math.exp(x[i * V + v]! * scale - mx);
    const lse = mx + Math.log(z);
    return Float64Array.from({ length: V }, (_, v) => x[i * V + v]! * scale - lse);
  };
  let total = 0;
  for (let i = 0; i < N; i++) {
    const tg = targets[i]!;
    if (!(tg >= 0 && tg < V)) continue;
    const ls = logSoftmax(Z, i, 1);
    const lq = logSoftmax(Z, i, 1 / tau);
    const lp = logSoftmax(Tz, i, 1 / tau);
    let kl = 0;
    for (let v = 0; v < V; v++) kl += Math.exp(lp[v]!) * (lp[v]! - lq[v]!);
    total += alpha * -ls[tg]! + (1 - alpha) * tau * tau * kl;
    for (let v = 0; v < V; v++)
      dlogits[i * V + v] =
        (alpha * (Math.exp(ls[v]!) - (v === tg ? 1 : 0)) + (1 - alpha) * tau * (Math.exp(lq[v]!) - Math.exp(lp[v]!))) /
        count;
  }
  return { loss: count ? total / count : 0, dlogits };
}

/**
 * kd-hidden's cosine term over rows of student hidden states S and teacher states Tt [N, C]: scale · the mean over
 * rows with a target in [0, V) of 1 − cos(s, t), cos = s·t / (max(|s|, ε)·max(|t|, ε)), ε = 1e-8; and its gradient
 * w.r.t. S (the teacher gets none).
 */
export function hiddenCosineRef(
  S: F64,
  Tt: F64,
  targets: ArrayLike<number>,
  N: number,
  C: number,
  V: number,
  scale: number,
): { loss: number; ds: F64 } {
  const EPS = 1e-8;
  const ds = new Float64Array(N * C);
  const scored = (i: number) => targets[i]! >= 0 && targets[i]! < V;
  let count = 0;
  for (let i = 0; i < N; i++) if (scored(i)) count++;
  let total = 0;
  for (let i = 0; i < N; i++) {
    if (!scored(i)) continue;
    let st = 0;
    let ss = 0;
    let tt = 0;
    for (let c = 0; c < C; c++) {
      const a = S[i * C + c]!;
      const b = Tt[i * C + c]!;
      st += a * b;
      ss += a * a;
      tt += b * b;
    }
    const ns = Math.sqrt(ss);
    const inv = 1 / (Math.max(ns, EPS) * Math.max(Math.sqrt(tt), EPS));
    const cos = st * inv;
    total += 1 - cos;
    const along = ns > EPS ? cos / ss : 0;
    for (let c = 0; c < C; c++) ds[i * C + c] = (-scale * (Tt[i * C + c]! * inv - along * S[i * C + c]!)) / count;
  }
  return { loss: count ? (scale * total) / count : 0, ds };
}

/**
 * Per row: the target's log-softmax probability and whether it is the first index of the row's maximum (0 and false
 * for an ignored target).
 */
export function tokenScoresRef(
  logits: F64,
  targets: ArrayLike<number>,
  N: number,
  V: number,
): { logp: Float64Array; top1: Float64Array } {
  const logp = new Float64Array(N);
  const top1 = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const tg = targets[i]!;
    if (!(tg >= 0 && tg < V)) continue;
    let best = 0;
    for (let v = 1; v < V; v++) if (logits[i * V + v]! > logits[i * V + best]!) best = v;
    const mx = logits[i * V + best]!;
    let z = 0;
    for (let v = 0; v < V; v++) z += Math.exp(logits[i * V + v]! - mx);
    logp[i] = logits[i * V + tg]! - mx - Math.log(z);
    top1[i] = best === tg ? 1 : 0;
  }
  return { logp, top1 };
}

export function embeddingRef(tokens: ArrayLike<number>, B: number, T: number, wte: F64, wpe: F64, C: number): F64 {
  const out = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let c = 0; c < C; c++) out[(b * T + t) * C + c] = wte[tokens[b * T + t]! * C + c]! + wpe[t * C + c]!;
  return out;
}

export function embeddingBackwardRef(
  tokens: ArrayLike<number>,
  B: number,
  T: number,
  g: F64,
  V: number,
  P: number,
  C: number,
): { dTable: F64; dPositions: F64 } {
  const dTable = new Float64Array(V * C);
  const dPositions = new Float64Array(P * C);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let c = 0; c < C; c++) {
        dTable[tokens[b * T + t]! * C + c] += g[(b * T + t) * C + c]!;
        dPositions[t * C + c] += g[(b * T + t) * C + c]!;
      }
  return { dTable, dPositions };
}
