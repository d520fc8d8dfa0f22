// The tied LM head fused with cross-entropy, over row chunks: logits = x·wteᵀ for N rows × V (1.6 GB at GPT-2's
// B=8, T=1024) never exist at once. Forward keeps only each row's log-sum-exp; backward recomputes a chunk's logits,
// turns them into dlogits in place of a second buffer, and folds them into dx and dwte.

import type { Gpu } from '../../gpu/runtime';
import { tape } from '../tape';
import { empty, fromArray, type Tensor } from '../tensor';
import { CE_BACKWARD, CE_FORWARD, CE_MEAN } from './crossentropy';
import { assertF32, dispatchRows } from './launch';
import { launchMatmul } from './matmul';

/** Bytes of logits one chunk may hold: well inside every adapter's binding limit and memory budget. */
const CHUNK_BYTES = 64 * 2 ** 20;

/** Rows per chunk: a multiple of 64 (so row offsets are bindable views), at least 64, within CHUNK_BYTES. */
export function headChunkRows(gpu: Gpu, N: number, V: number): number {
  const limit = Math.min(CHUNK_BYTES, gpu.limits.maxStorageBufferBindingSize ?? CHUNK_BYTES);
  const rows = Math.max(64, Math.floor(limit / (V * 4) / 64) * 64);
  return Math.min(rows, Math.ceil(N / 64) * 64);
}

/** Mean next-token loss of x [N, C] under the tied head wte [V, C] against targets (negative = ignored). */
export function headCrossEntropy(x: Tensor, wte: Tensor, targets: Int32Array, opts: { chunkRows?: number } = {}): Tensor {
  assertF32(x, 'head x');
  const [V, C] = wte.shape as [number, number];
  const N = x.size / C;
  if (x.shape[x.shape.length - 1] !== C) throw new Error(`head: x width ${x.shape[x.shape.length - 1]} differs from wte width ${C}`);
  if (targets.length !== N) throw new Error(`head: ${targets.length} targets for ${N} rows`);
  const bad = targets.findIndex((t) => t >= V);
  if (bad >= 0) throw new Error(`head: target ${targets[bad]} at row ${bad} is outside the vocabulary of ${V}`);
  const gpu = x.gpu;
  const chunk = opts.chunkRows ?? headChunkRows(gpu, N, V);
  if (chunk % 64 || chunk < 64) throw new Error(`head: chunk of ${chunk} rows is not a positive multiple of 64`);
  const tgt = fromArray(gpu, targets, [N], 'i32');
  const lse = empty(gpu, [N]);
  const losses = empty(gpu, [N]);
  const loss = empty(gpu, [1]);
  const count = empty(gpu, [1]);
  const logits = empty(gpu, [Math.min(chunk, N), V]);
  forEachChunk(N, chunk, (r0, rows) => {
    launchMatmul(gpu, { a: rowView(x, r0, rows, C), b: wte.view, c: logits.view, M: rows, N: V, K: C, transB: true });
    dispatchRows(gpu, CE_FORWARD, [logits.view, rowView(tgt, r0, rows, 1), rowView(losses, r0, rows, 1), rowView(lse, r0, rows, 1)], { N: rows, V }, rows);
  });
  gpu.dispatch(CE_MEAN, [losses.view, tgt.view, loss.view, count.view], { N, V }, [1]);
  logits.dispose();
  losses.dispose();
  tape.record('headCrossEntropy', [x, wte, tgt], [loss], { N, V, C, chunk, lse, count }, [lse, count]);
  tgt.dispose();
  return loss;
}

/** Accumulates dx and dwte for the upstream gradient gLoss [1]. */
export function headCrossEntropyBackward(x: Tensor, wte: Tensor, tgt: Tensor, gLoss: Tensor, dx: Tensor | null, dwte: Tensor | null, a: { N: number; V: number; C: number; chunk: number; lse: Tensor; count: Tensor }): void {
  const gpu = x.gpu;
  const { N, V, C, chunk } = a;
  const logits = empty(gpu, [Math.min(chunk, N), V]);
  const dlogits = empty(gpu, [Math.min(chunk, N), V]);
  forEachChunk(N, chunk, (r0, rows) => {
    const xs = rowView(x, r0, rows, C);
    const dl = { ...dlogits.view, size: rows * V * 4 };
    launchMatmul(gpu, { a: xs, b: wte.view, c: logits.view, M: rows, N: V, K: C, transB: true });
    gpu.clear(dl);
    dispatchRows(gpu, CE_BACKWARD, [logits.view, rowView(tgt, r0, rows, 1), rowView(a.lse, r0, rows, 1), a.count.view, gLoss.view, dl], { N: rows, V }, rows);
    // dx[rows] += dlogits · wte;  dwte += dlogitsᵀ · x[rows]
    if (dx) launchMatmul(gpu, { a: dl, b: wte.view, c: rowView(dx, r0, rows, C), M: rows, N: C, K: V, beta: 1 });
    if (dwte) launchMatmul(gpu, { a: dl, b: xs, c: dwte.view, M: V, N: C, K: rows, transA: true, beta: 1 });
  });
  logits.dispose();
  dlogits.dispose();
}

function forEachChunk(N: number, chunk: number, fn: (r0: number, rows: number) => void): void {
  for (let r0 = 0; r0 < N; r0 += chunk) fn(r0, Math.min(chunk, N - r0));
}

/** Rows [r0, r0+rows) of a row-major tensor of width w, as a bindable view (r0 is a multiple of 64). */
function rowView(t: Tensor, r0: number, rows: number, w: number) {
  const v = t.view;
  return { buffer: v.buffer, offset: v.offset + r0 * w * 4, size: rows * w * 4 };
}
