// The LM head fused with cross-entropy, over row chunks: logits = x·wᵀ (w [V, C]: the head matrix, the token table
// when tied) for N rows × V (1.6 GB at GPT-2's B=8, T=1024) never exist at once. Forward keeps only each row's
// log-sum-exp; backward recomputes a chunk's logits,
// turns them into dlogits and folds them into dx and dw. A training step that names its backward seed up front
// (`seed`) gets dx and dw in the forward pass instead, from the logits it has just made: no recompute (for GPT-2
// 124M a sixth of the step's matmul work), at the cost of holding dx [N, C] and dw [V, C] until backward.
// f16-mixed training's seeded head runs its three products on tensor cores: x as halves (the final norm's f16
// output), the head matrix as an f16 copy padded with zero rows to whole 64-row tiles (`half`), logits and dlogits
// rows as long as that copy (dlogits as halves, zeros past V), so every product is two f16 operands on whole tiles.

import { type BufferView, DEFAULT_HEAD_CHUNK_BYTES, type Gpu } from '../../gpu/runtime';
import type { OpAttrs } from '../opkinds';
import { tape, type GradSlot } from '../tape';
import { bytesPer, empty, fromArray, type Tensor } from '../tensor';
import {
  CE_BACKWARD,
  CE_FORWARD,
  CE_MEAN,
  CE_SEEDED,
  CE_SEEDED_HALF,
  DISTILL_HEAD,
  TOKEN_SCORES,
} from './crossentropy';
import { passGradient } from './elementwise';
import { assertF32, dispatchRows } from './launch';
import { launchMatmul } from './matmul';

/**
 * Rows per chunk within the device's head chunk bytes (Gpu.headChunkBytes, by default 128 MiB: WebGPU's default
 * binding limit, and for GPT-2's vocabulary 640 rows, five whole 128-row matmul tiles) and the binding limit: whole
 * 128-row tiles where they fit, else a multiple of 64 (row offsets must be bindable views), at least 64. A chunk holds
 * its logits and their gradient. Fewer, taller chunks mean fewer passes over dw (each chunk adds its part into all
 * V×C of it) and fewer dispatches; 64 MiB chunks gave 320 rows.
 */
export function headChunkRows(gpu: Pick<Gpu, 'limits'> & { headChunkBytes?: number }, N: number, V: number): number {
  // V: the logits' row length (the padded one for the tensor-core head).
  const limit = Math.min(gpu.headChunkBytes ?? DEFAULT_HEAD_CHUNK_BYTES, gpu.limits.maxBinding);
  const fit = Math.floor(limit / (V * 4));
  const rows = fit >= 128 ? Math.floor(fit / 128) * 128 : Math.max(64, Math.floor(fit / 64) * 64);
  return Math.min(rows, Math.ceil(N / 64) * 64);
}

/**
 * The checks every head op makes on x [N, C] (f32, or halves), w [V, C] and one target per row (in [0, V) or
 * negative, ignored), and its chunk of rows for logits rows of `cols` (V unless padded); `what` names the op in messages.
 */
function headArgs(
  x: Tensor,
  w: Tensor,
  targets: Int32Array,
  chunkRows: number | undefined,
  what: string,
  cols?: number,
): { N: number; V: number; C: number; chunk: number } {
  if (x.dtype !== 'f16') assertF32(x, `${what} x`);
  assertF32(w, `${what} w`);
  const [V, C] = w.shape as [number, number];
  // A chunk's rows of halves start on 64·C·2 bytes: bindable (256-byte aligned) for an even width only.
  if (x.dtype === 'f16' && C % 2 !== 0) throw new Error(`${what}: an f16 x needs an even width, not ${C}`);
  const N = x.size / C;
  if (x.shape[x.shape.length - 1] !== C)
    throw new Error(`${what}: x width ${x.shape[x.shape.length - 1]} differs from w width ${C}`);
  if (targets.length !== N) throw new Error(`${what}: ${targets.length} targets for ${N} rows`);
  const bad = targets.findIndex((t) => t >= V);
  if (bad >= 0) throw new Error(`${what}: target ${targets[bad]} at row ${bad} is outside the vocabulary of ${V}`);
  const chunk = chunkRows ?? headChunkRows(x.gpu, N, cols ?? V);
  if (chunk % 64 || chunk < 64) throw new Error(`${what}: chunk of ${chunk} rows is not a positive multiple of 64`);
  return { N, V, C, chunk };
}

/**
 * The padded f16 copy of a head matrix w [V, C] that f16-mixed's tensor-core head multiplies: [Vp, C] halves, Vp the
 * multiple of 64 at or above V, rows from V on zero. Checked here; the caller keeps it equal to w rounded.
 */
function checkHalfHead(half: Tensor, V: number, C: number): number {
  const [Vp, Ch] = half.shape as [number, number];
  if (half.dtype !== 'f16' || half.shape.length !== 2 || Ch !== C || Vp < V || Vp % 64 !== 0)
    throw new Error(
      `head: the f16 head copy must be [${paddedVocab(V)}, ${C}] halves, got ${half.dtype} [${half.shape.join(', ')}]`,
    );
  return Vp;
}

/** The row count of f16-mixed's padded head copy for a vocabulary of V: whole 64-row tiles. */
export function paddedVocab(V: number): number {
  return Math.ceil(V / 64) * 64;
}

/**
 * Mean next-token loss of x [N, C] (f32 or halves) under the head w [V, C] against targets (negative = ignored).
 * With `seed` (the [1] tensor the caller will pass to backward as this loss's gradient) and grad mode on, the
 * gradients are made now and backward only adds them in; backward with any other seed recomputes them (from w). The
 * seed's value is read now: it must not change before backward. `half` (with a seed; f16-mixed): the f16 copy of w
 * padded to [paddedVocab(V), C] with zero rows, which the seeded pass multiplies instead of w (see the top of the file);
 * w's gradient still reaches w.
 */
export function headCrossEntropy(
  x: Tensor,
  w: Tensor,
  targets: Int32Array,
  opts: { chunkRows?: number; seed?: Tensor; half?: Tensor } = {},
): Tensor {
  const [V0, C0] = w.shape as [number, number];
  const seed = opts.seed && tape.records([x, w]) ? opts.seed : null;
  const half = seed && opts.half ? opts.half : null;
  // The logits' row length: the padded copy's rows where its products run, else V.
  const cols = half ? checkHalfHead(half, V0, C0) : V0;
  const { N, V, C, chunk } = headArgs(x, w, targets, opts.chunkRows, 'head', cols);
  const gpu = x.gpu;
  const hw = half ?? w; // the matrix the products read
  const halves: Halves = { x: x.dtype === 'f16', w: half !== null, dl: half !== null };
  const tgt = fromArray(gpu, targets, [N], 'i32');
  const lse = empty(gpu, [N]);
  const losses = empty(gpu, [N]);
  const loss = empty(gpu, [1]);
  const count = empty(gpu, [1]);
  const logits = empty(gpu, [Math.min(chunk, N), cols]);
  // Written, not accumulated: each chunk's dx rows once, dw by the first chunk and added to by the rest.
  const grads = seed
    ? {
        x: x.requiresGrad ? empty(gpu, x.shape) : null,
        w: w.requiresGrad ? empty(gpu, [cols, C]) : null,
        dlogits: empty(gpu, [Math.min(chunk, N), cols], half ? 'f16' : 'f32'),
      }
    : null;
  // The backward needs the count of scored rows before CE_MEAN (after the last chunk) stores the same number.
  if (seed) gpu.upload(count.view, new Float32Array([targets.reduce((n, t) => n + (t >= 0 ? 1 : 0), 0)]));
  forEachChunk(N, chunk, (r0, rows) => {
    const xs = rowView(x, r0, rows, C);
    const rowsOf = [rowView(tgt, r0, rows, 1)];
    const out = [rowView(losses, r0, rows, 1), rowView(lse, r0, rows, 1)];
    if (!grads) {
      launchMatmul(gpu, { a: xs, b: hw.view, c: logits.view, M: rows, N: cols, K: C, transB: true, halfA: halves.x });
      dispatchRows(gpu, CE_FORWARD, [logits.view, ...rowsOf, ...out], { N: rows, V }, rows);
      return;
    }
    const ce = [...rowsOf, count.view, seed!.view, ...out];
    seededChunk(gpu, { rows, V, C, cols }, xs, hw, halves, logits, grads.dlogits, ce, {
      dx: grads.x && rowView(grads.x, r0, rows, C),
      dw: grads.w,
      beta: { dx: 0, dw: r0 === 0 ? 0 : 1 },
    });
  });
  gpu.dispatch(CE_MEAN, [losses.view, tgt.view, loss.view, count.view], { N, V }, [1]);
  logits.dispose();
  losses.dispose();
  grads?.dlogits.dispose();
  // The padded head's dw [Vp, C]: w's gradient is its first V rows (a view that keeps the buffer).
  let dw = grads?.w ?? null;
  if (dw && cols !== V) {
    const full = dw;
    dw = full.slice(0, [V, C]);
    full.dispose();
  }
  const pre = grads && { seed: seed!, dx: grads.x, dw };
  // A backward with another seed recomputes on the same padded copy (a view that keeps it; the values stay those of
  // this step: the copy is rewritten from masters the optimizer has not moved yet).
  const kept = half ? half.slice(0, half.shape) : null;
  tape.record('headCrossEntropy', [x, w, tgt], [loss], { N, V, C, chunk, lse, count, pre, half: kept }, [
    lse,
    count,
    ...(grads?.x ? [grads.x] : []),
    ...(dw ? [dw] : []),
    ...(kept ? [kept] : []),
  ]);
  tgt.dispose();
  return loss;
}

/**
 * Per row of x [N, C] under the head w [V, C]: the target's log-probability and 1 where it is the row's first argmax
 * (else 0), both [N]; in chunks like headCrossEntropy, never recorded (evaluation only). −logp is the row's
 * cross-entropy, bit for bit.
 */
export function headTokenScores(
  x: Tensor,
  w: Tensor,
  targets: Int32Array,
  opts: { chunkRows?: number } = {},
): { logp: Tensor; top1: Tensor } {
  const { N, V, C, chunk } = headArgs(x, w, targets, opts.chunkRows, 'head scores');
  const gpu = x.gpu;
  const tgt = fromArray(gpu, targets, [N], 'i32');
  const logp = empty(gpu, [N]);
  const top1 = empty(gpu, [N]);
  const logits = empty(gpu, [Math.min(chunk, N), V]);
  forEachChunk(N, chunk, (r0, rows) => {
    const xs = rowView(x, r0, rows, C);
    launchMatmul(gpu, {
      a: xs,
      b: w.view,
      c: logits.view,
      M: rows,
      N: V,
      K: C,
      transB: true,
      halfA: x.dtype === 'f16',
    });
    const out = [rowView(tgt, r0, rows, 1), rowView(logp, r0, rows, 1), rowView(top1, r0, rows, 1)];
    dispatchRows(gpu, TOKEN_SCORES, [logits.view, ...out], { N: rows, V }, rows);
  });
  logits.dispose();
  tgt.dispose();
  return { logp, top1 };
}

/**
 * One chunk's gradients from its logits: dlogits = g·(softmax − onehot)/count, then dx[rows] = dlogits·w and
 * dw = dlogitsᵀ·x[rows], each added to what the output holds (beta 1) or written over it (beta 0).
 */
function chunkGrads(
  gpu: Gpu,
  s: { N: number; V: number; C: number },
  xs: BufferView,
  w: Tensor,
  logits: Tensor,
  dlogits: Tensor,
  tgt: BufferView,
  lse: BufferView,
  count: Tensor,
  g: Tensor,
  dx: BufferView | null,
  dw: Tensor | null,
  beta: { dx: number; dw: number },
  xHalf: boolean,
): void {
  const dl = { ...dlogits.view, size: s.N * s.V * 4 };
  dispatchRows(gpu, CE_BACKWARD, [logits.view, tgt, lse, count.view, g.view, dl], { N: s.N, V: s.V }, s.N, {
    ACCUMULATE: false,
  });
  foldChunk(gpu, s, xs, w, dl, dx, dw, beta, { x: xHalf, w: false, dl: false });
}

/** Which of a chunk's operands are halves: x's rows, the head matrix, the dlogits. */
interface Halves {
  x: boolean;
  w: boolean;
  dl: boolean;
}

/** dx[rows] (+)= dlogits·w and dw (+)= dlogitsᵀ·x[rows] for one chunk's dlogits `dl` (V: its row length). */
function foldChunk(
  gpu: Gpu,
  s: { N: number; V: number; C: number },
  xs: BufferView,
  w: Tensor,
  dl: BufferView,
  dx: BufferView | null,
  dw: Tensor | null,
  beta: { dx: number; dw: number },
  h: Halves = { x: false, w: false, dl: false },
): void {
  if (dx)
    launchMatmul(gpu, { a: dl, b: w.view, c: dx, M: s.N, N: s.C, K: s.V, beta: beta.dx, halfA: h.dl, halfB: h.w });
  if (dw)
    launchMatmul(gpu, {
      a: dl,
      b: xs,
      c: dw.view,
      M: s.V,
      N: s.C,
      K: s.N,
      transA: true,
      beta: beta.dw,
      halfA: h.dl,
      halfB: h.x,
    });
}

/**
 * One chunk of the seeded pass (rows of x at `xs`; ce: the chunk's targets, count, seed, row losses and lse): logits
 * = x·hwᵀ over `cols` columns, the losses, lse and dlogits in one dispatch (the values of CE_FORWARD then
 * CE_BACKWARD; dlogits as halves where the head matrix is the padded f16 copy), folded into dx[rows] and dw.
 */
function seededChunk(
  gpu: Gpu,
  s: { rows: number; V: number; C: number; cols: number },
  xs: BufferView,
  hw: Tensor,
  h: Halves,
  logits: Tensor,
  dlogits: Tensor,
  ce: BufferView[],
  out: { dx: BufferView | null; dw: Tensor | null; beta: { dx: number; dw: number } },
): void {
  const { rows, V, C, cols } = s;
  launchMatmul(gpu, {
    a: xs,
    b: hw.view,
    c: logits.view,
    M: rows,
    N: cols,
    K: C,
    transB: true,
    halfA: h.x,
    halfB: h.w,
  });
  const dl = { ...dlogits.view, size: rows * cols * bytesPer(dlogits.dtype) };
  dispatchRows(gpu, h.dl ? CE_SEEDED_HALF : CE_SEEDED, [logits.view, ...ce, dl], { N: rows, V, stride: cols }, rows);
  foldChunk(gpu, { N: rows, V: cols, C }, xs, hw, dl, out.dx, out.dw, out.beta, h);
}

/**
 * Logit distillation through the chunked head (Hinton et al. 2015): the mean over scored rows of
 * α·CE(x·wᵀ, y) + (1−α)·τ²·KL(softmax(t/τ) ‖ softmax(x·wᵀ/τ)), the teacher's logits t = teacher.x·teacher.wᵀ made
 * chunk by chunk beside the student's (no V × N tensor of either). Training only: `seed` (the [1] gradient backward
 * will be given) is required, and dx and dw are made in this pass, as headCrossEntropy makes them for a seed.
 * With α = 1 the loss and gradients are headCrossEntropy's bit for bit.
 */
export function headDistill(
  x: Tensor,
  w: Tensor,
  targets: Int32Array,
  teacher: { x: Tensor; w: Tensor },
  opts: { alpha: number; tau: number; seed: Tensor; chunkRows?: number },
): Tensor {
  assertF32(x, 'distillation x'); // its products read f32 rows
  const { N, V, C, chunk } = headArgs(x, w, targets, opts.chunkRows, 'distillation');
  assertF32(teacher.x, 'teacher head x');
  const [Vt, Ct] = teacher.w.shape as [number, number];
  if (Vt !== V) throw new Error(`distillation: the teacher's vocabulary ${Vt} differs from the student's ${V}`);
  if (teacher.x.size !== N * Ct) throw new Error(`distillation: the teacher has ${teacher.x.size / Ct} rows for ${N}`);
  if (!(opts.alpha >= 0 && opts.alpha <= 1)) throw new Error(`distillation: α must be in [0, 1], got ${opts.alpha}`);
  if (!(opts.tau > 0)) throw new Error(`distillation: τ must be positive, got ${opts.tau}`);
  const gpu = x.gpu;
  const recording = tape.records([x, w]);
  const tgt = fromArray(gpu, targets, [N], 'i32');
  const losses = empty(gpu, [N]);
  const loss = empty(gpu, [1]);
  const count = empty(gpu, [1]);
  const rowsMax = Math.min(chunk, N);
  const logits = empty(gpu, [rowsMax, V]);
  const tlogits = empty(gpu, [rowsMax, V]);
  const dlogits = empty(gpu, [rowsMax, V]);
  const dx = recording && x.requiresGrad ? empty(gpu, x.shape) : null;
  const dw = recording && w.requiresGrad ? empty(gpu, [V, C]) : null;
  gpu.upload(count.view, new Float32Array([targets.reduce((n, t) => n + (t >= 0 ? 1 : 0), 0)]));
  forEachChunk(N, chunk, (r0, rows) => {
    const xs = rowView(x, r0, rows, C);
    launchMatmul(gpu, { a: xs, b: w.view, c: logits.view, M: rows, N: V, K: C, transB: true });
    const ts = rowView(teacher.x, r0, rows, Ct);
    launchMatmul(gpu, { a: ts, b: teacher.w.view, c: tlogits.view, M: rows, N: V, K: Ct, transB: true });
    const dl = { ...dlogits.view, size: rows * V * 4 };
    const views = [logits.view, tlogits.view, rowView(tgt, r0, rows, 1), count.view, opts.seed.view];
    dispatchRows(
      gpu,
      DISTILL_HEAD,
      [...views, rowView(losses, r0, rows, 1), dl],
      {
        N: rows,
        V,
        alpha: opts.alpha,
        tau: opts.tau,
      },
      rows,
    );
    foldChunk(gpu, { N: rows, V, C }, xs, w, dl, dx && rowView(dx, r0, rows, C), dw, { dx: 0, dw: r0 === 0 ? 0 : 1 });
  });
  gpu.dispatch(CE_MEAN, [losses.view, tgt.view, loss.view, count.view], { N, V }, [1]);
  for (const t of [logits, tlogits, dlogits, losses, count]) t.dispose();
  tape.record('headDistill', [x, w, tgt], [loss], { seed: opts.seed, dx, dw }, [
    ...(dx ? [dx] : []),
    ...(dw ? [dw] : []),
  ]);
  tgt.dispose();
  return loss;
}

/** dx and dw of headDistill: made in its forward pass for the seed it was given, moved in. */
export function headDistillBackward(
  gLoss: Tensor,
  dxSlot: GradSlot | null,
  dwSlot: GradSlot | null,
  a: OpAttrs['headDistill'],
): void {
  if (gLoss !== a.seed)
    throw new Error('distillation: backward was given another seed than the one its forward made the gradients for');
  if (dxSlot && a.dx) passGradient(dxSlot, a.dx);
  if (dwSlot && a.dw) passGradient(dwSlot, a.dw);
}

/** dx and dw for the upstream gradient gLoss [1], into their slots. */
export function headCrossEntropyBackward(
  x: Tensor,
  w: Tensor,
  tgt: Tensor,
  gLoss: Tensor,
  dxSlot: GradSlot | null,
  dwSlot: GradSlot | null,
  a: OpAttrs['headCrossEntropy'],
): void {
  if (a.pre && gLoss === a.pre.seed) {
    // Made in the forward pass for this very seed: moved in when the slot allows it.
    if (dxSlot && a.pre.dx) passGradient(dxSlot, a.pre.dx);
    if (dwSlot && a.pre.dw) passGradient(dwSlot, a.pre.dw);
    return;
  }
  if (a.half) {
    halfHeadRecompute(x, tgt, gLoss, dxSlot, dwSlot, a, a.half);
    return;
  }
  const dx = dxSlot?.out() ?? null;
  const dw = dwSlot?.out() ?? null;
  const gpu = x.gpu;
  const { N, V, C, chunk } = a;
  const logits = empty(gpu, [Math.min(chunk, N), V]);
  const dlogits = empty(gpu, [Math.min(chunk, N), V]);
  forEachChunk(N, chunk, (r0, rows) => {
    const xs = rowView(x, r0, rows, C);
    const halfA = x.dtype === 'f16';
    launchMatmul(gpu, { a: xs, b: w.view, c: logits.view, M: rows, N: V, K: C, transB: true, halfA });
    const beta = { dx: dx?.accumulate ? 1 : 0, dw: dw?.accumulate || r0 > 0 ? 1 : 0 };
    chunkGrads(
      gpu,
      { N: rows, V, C },
      xs,
      w,
      logits,
      dlogits,
      rowView(tgt, r0, rows, 1),
      rowView(a.lse, r0, rows, 1),
      a.count,
      gLoss,
      dx && rowView(dx.t, r0, rows, C),
      dw?.t ?? null,
      beta,
      halfA,
    );
  });
  logits.dispose();
  dlogits.dispose();
}

/**
 * The recompute of a forward that ran on the padded f16 copy, for another seed: the same seeded chunks on the same
 * halves (so the gradient is that of the loss the forward reported), dw made padded and its first V rows passed on.
 */
function halfHeadRecompute(
  x: Tensor,
  tgt: Tensor,
  gLoss: Tensor,
  dxSlot: GradSlot | null,
  dwSlot: GradSlot | null,
  a: OpAttrs['headCrossEntropy'],
  half: Tensor,
): void {
  const gpu = x.gpu;
  const { N, V, C, chunk } = a;
  const cols = half.shape[0]!;
  const rowsMax = Math.min(chunk, N);
  const logits = empty(gpu, [rowsMax, cols]);
  const dlogits = empty(gpu, [rowsMax, cols], 'f16');
  const losses = empty(gpu, [N]); // scratch: the forward's values again
  const lse = empty(gpu, [N]);
  const dx = dxSlot?.out() ?? null;
  const dwFull = dwSlot ? empty(gpu, [cols, C]) : null;
  const halves: Halves = { x: x.dtype === 'f16', w: true, dl: true };
  try {
    forEachChunk(N, chunk, (r0, rows) => {
      const ce = [
        rowView(tgt, r0, rows, 1),
        a.count.view,
        gLoss.view,
        rowView(losses, r0, rows, 1),
        rowView(lse, r0, rows, 1),
      ];
      seededChunk(gpu, { rows, V, C, cols }, rowView(x, r0, rows, C), half, halves, logits, dlogits, ce, {
        dx: dx && rowView(dx.t, r0, rows, C),
        dw: dwFull,
        beta: { dx: dx?.accumulate ? 1 : 0, dw: r0 === 0 ? 0 : 1 },
      });
    });
    if (dwSlot && dwFull) {
      const g = dwFull.slice(0, [V, C]);
      try {
        passGradient(dwSlot, g);
      } finally {
        g.dispose();
      }
    }
  } finally {
    for (const t of [logits, dlogits, losses, lse, dwFull]) t?.dispose();
  }
}

function forEachChunk(N: number, chunk: number, fn: (r0: number, rows: number) => void): void {
  for (let r0 = 0; r0 < N; r0 += chunk) fn(r0, Math.min(chunk, N - r0));
}

/** Rows [r0, r0+rows) of a row-major tensor of width w, as a bindable view (r0 is a multiple of 64). */
function rowView(t: Tensor, r0: number, rows: number, w: number) {
  const v = t.view;
  const b = bytesPer(t.dtype);
  return { buffer: v.buffer, offset: v.offset + r0 * w * b, size: rows * w * b };
}
