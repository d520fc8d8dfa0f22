// Deterministic column sums (out[n] (+)= Σ_r x[r, n]: the bias gradient of a matmul, the sum of split-K parts,
// LayerNorm's parameter gradients) as a two-stage reduction: per (256-row chunk, 64-column tile) partials into a
// [chunks, N] scratch, then column sums of the partials. Independent jobs share dispatches, four per dispatch (one
// dispatch runs one stage of each).
// Inside a backward pass, a parameter gradient's job waits when its input stays as it is (scratch of ours, or a
// rule's output gradient that it keeps): later column sums that cannot wait take waiting ones into the room left in
// their dispatch, and at the end of the pass (flushColsums) whatever still waits is recorded, the jobs whose input
// lies in the pass's arena (pooled chunks for the waiting scratch) in one table dispatch per chunk (colsum_table.wgsl).
// At ref-8L's shapes that makes 18 column-sum dispatches per update instead of 49 (tests/unit/dispatches.test.ts).
// Every job's sums are taken in the same order whichever dispatch or kernel runs it, so the bits do not change.

import src from '../../../shaders/colsum.wgsl?raw';
import tableSrc from '../../../shaders/colsum_table.wgsl?raw';
import type { BufferView, Gpu } from '../../gpu/runtime';
import { kernel, grid2d } from '../../gpu/kernel';
import { empty, type Tensor, untrack, VIEW_ALIGN_ELEMS } from '../tensor';
import { WAITING_SUM_BYTES } from './colsum-budget';

export const COLSUM = kernel({
  name: 'colsum',
  source: src,
  storage: ['read', 'rw', 'read', 'rw', 'read', 'rw', 'read', 'rw'],
  uniforms: [
    ['R0', 'u32'],
    ['N0', 'u32'],
    ['R1', 'u32'],
    ['N1', 'u32'],
    ['R2', 'u32'],
    ['N2', 'u32'],
    ['R3', 'u32'],
    ['N3', 'u32'],
  ],
});

export const COLSUM_TABLE = kernel({
  name: 'colsum_table',
  source: tableSrc,
  storage: ['read', 'rw', 'rw', 'rw', 'rw', 'read'],
  uniforms: [
    ['jobs', 'u32'],
    ['work', 'u32'],
  ],
});

/** Jobs one colsum dispatch runs (its eight storage bindings: WebGPU's guaranteed maxStorageBuffersPerShaderStage). */
export const COLSUM_JOBS = 4;

/** Columns per workgroup tile and rows per chunk (they match the TILE and CHUNK constants of the shaders). */
export const COLSUM_TILE = 64;
export const COLSUM_CHUNK = 256;

/** Row chunks of a column reduction over R rows: the row count of its partials scratch. */
export function colsumChunks(R: number): number {
  return Math.ceil(R / COLSUM_CHUNK);
}

/** Workgroups of one stage over [R, N]: one per (column tile, row chunk). */
function colsumWork(R: number, N: number): number {
  return Math.ceil(N / COLSUM_TILE) * colsumChunks(R);
}

/** One column sum: out[n] = Σ_r x[r, n] over row-major x [R, N], or out[n] += it with `accumulate`. */
export interface ColsumJob {
  x: BufferView;
  out: BufferView;
  R: number;
  N: number;
  accumulate: boolean;
  /**
   * out is a parameter's gradient (a leaf's), which nothing reads before backward ends: inside a backward pass a job
   * that adds into it may wait (launchColsums), when what it reads stays as it is: scratch of ours (a partial, or
   * `handOver`) or a tensor it keeps (`keep`), never a caller's buffer that may change.
   */
  parameter?: boolean;
  /** x is this scratch, handed over: freed once the job has read it. */
  handOver?: Tensor;
  /**
   * x is a view of this tensor, which nothing writes again before backward ends (a rule's output gradient, freed by
   * the tape after the rule): a parameter job that adds may then keep it (retained) and run with a later rule's
   * column sums.
   */
  keep?: Tensor;
}

const MODE_PARTIAL = 0;
const MODE_WRITE = 1;
const MODE_ADD = 2;

interface Stage {
  x: BufferView;
  out: BufferView;
  R: number;
  N: number;
  mode: number;
}

const R_KEYS = ['R0', 'R1', 'R2', 'R3'];
const N_KEYS = ['N0', 'N1', 'N2', 'N3'];
const MODE_KEYS = ['MODE0', 'MODE1', 'MODE2', 'MODE3'];

/** One dispatch of up to COLSUM_JOBS stages (absent ones bind dummies and have no rows). */
function dispatchStages(gpu: Gpu, stages: readonly Stage[]): void {
  if (stages.length === 0 || stages.length > COLSUM_JOBS)
    throw new Error(`colsum: ${stages.length} jobs in a dispatch`);
  const views: BufferView[] = [];
  const uniforms: Record<string, number> = {};
  const modes: Record<string, number> = {};
  let work = 0;
  for (let j = 0; j < COLSUM_JOBS; j++) {
    const s = stages[j];
    views.push(s ? s.x : gpu.dummy, s ? s.out : gpu.dummyOut(j));
    uniforms[R_KEYS[j]!] = s ? s.R : 0;
    uniforms[N_KEYS[j]!] = s ? s.N : 0;
    modes[MODE_KEYS[j]!] = s ? s.mode : MODE_ADD;
    if (s) work += colsumWork(s.R, s.N);
  }
  gpu.dispatch(COLSUM, views, uniforms, grid2d(work, gpu.maxGridX), modes);
}

/** A job on its way: its next stage reads x, which is `ours` (scratch freed after) or kept (`held`: retained by us). */
interface Live {
  x: BufferView;
  out: BufferView;
  R: number;
  N: number;
  accumulate: boolean;
  parameter: boolean;
  ours: Tensor | null;
  keep: Tensor | null;
  held: boolean;
  /** What it read has been released (release() runs once per job, also on the failure paths). */
  released: boolean;
}

/** Bytes the waiting jobs may hold (their scratch and kept inputs); past it they are recorded at once. */
const WAITING_BYTES = WAITING_SUM_BYTES;

/** The column sums of a backward pass open on a device: the jobs waiting, and the bytes they hold. */
interface Queue {
  jobs: Live[];
  bytes: number;
}
const waiting = new WeakMap<Gpu, Queue>();

const overlap = (a: BufferView, b: BufferView) =>
  a.buffer === b.buffer && a.offset < b.offset + b.size && b.offset < a.offset + a.size;

/** Whether two jobs' next stages write overlapping ranges (a stage before the last writes partials of its own). */
const meet = (a: Live, b: Live) => colsumChunks(a.R) === 1 && colsumChunks(b.R) === 1 && overlap(a.out, b.out);

/** A job that may wait inside a backward pass: it adds into a parameter's gradient and its input stays as it is. */
const canWait = (j: Live) => j.parameter && j.accumulate && !!(j.ours || j.keep);

const heldBytes = (j: Live) => (j.ours ? j.ours.size * 4 : 0) + (j.held && j.keep ? j.keep.size * 4 : 0);

/**
 * Records the jobs' column sums, each summed in a fixed order (the same bits whether it runs alone or beside another).
 * Jobs must be independent: none may read what another writes, and none may write what another does. Stages go four
 * to a dispatch. Inside a backward pass, a stage that may wait (`canWait`: a parameter's, reading scratch of ours or a
 * kept input) waits: for the room left in a later dispatch (one with fewer than four stages, which then takes waiting
 * stages whose outputs meet none of its own, kept inputs first), or for the end of the pass (flushColsums).
 */
export function launchColsums(gpu: Gpu, jobs: readonly ColsumJob[]): void {
  const live: Live[] = [];
  for (const j of jobs) {
    if (j.R > 0 && j.N > 0) {
      const { x, out, R, N, accumulate } = j;
      live.push({
        x,
        out,
        R,
        N,
        accumulate,
        parameter: !!j.parameter,
        ours: j.handOver ?? null,
        keep: j.keep ?? null,
        held: false,
        released: false,
      });
    } else if (j.handOver) releaseScratch(j.handOver);
  }
  const queue = waiting.get(gpu) ?? null;
  let pending = live;
  while (pending.length > 0) {
    const must = queue ? pending.filter((j) => !canWait(j)) : pending;
    if (queue) for (const j of pending) if (canWait(j)) enqueue(queue, j);
    if (must.length === 0) break;
    const room = (COLSUM_JOBS - (must.length % COLSUM_JOBS)) % COLSUM_JOBS;
    pending = recordStages(gpu, [...must, ...(queue ? takeWaiting(queue, room, must) : [])]);
  }
  if (queue && queue.bytes > WAITING_BYTES) drain(gpu, queue);
}

function enqueue(queue: Queue, j: Live): void {
  if (j.keep && !j.held) {
    j.keep.storage.retain();
    j.held = true;
  }
  queue.jobs.push(j);
  queue.bytes += heldBytes(j);
}

/**
 * Up to `room` waiting jobs whose outputs meet neither each other's nor `beside`'s, kept inputs first (they hold
 * most). Never one reading the arena: the end's table dispatch takes those at no cost, and beside them this dispatch
 * could not put its own partials there.
 */
function takeWaiting(queue: Queue, room: number, beside: readonly Live[]): Live[] {
  const taken: Live[] = [];
  for (const kept of [true, false]) {
    for (let k = 0; k < queue.jobs.length && taken.length < room; ) {
      const j = queue.jobs[k]!;
      if (!!j.keep === kept && !readsArena(j) && !beside.some((o) => meet(o, j)) && !taken.some((o) => meet(o, j))) {
        taken.push(j);
        queue.jobs.splice(k, 1);
        queue.bytes -= heldBytes(j);
      } else k++;
    }
  }
  return taken;
}

/** Whether a job's next stage reads the arena (its input is scratch from colsumScratch inside the pass). */
function readsArena(j: Live): boolean {
  return !!j.ours && arenaRanges.has(j.ours);
}

/**
 * Records one stage of each job, four to a dispatch (their outputs must not meet), and returns the jobs with a stage
 * left. A parameter's partials go to the arena, unless their dispatch reads it (one buffer may not be bound both
 * read-only and writable in a dispatch).
 */
function recordStages(gpu: Gpu, jobs: readonly Live[]): Live[] {
  const next: Live[] = [];
  for (let i = 0; i < jobs.length; i += COLSUM_JOBS) {
    const group = jobs.slice(i, i + COLSUM_JOBS);
    const toArena = !group.some(readsArena);
    const stages: Stage[] = [];
    const made: Live[] = [];
    try {
      for (const j of group) {
        const chunks = colsumChunks(j.R);
        if (chunks === 1) {
          stages.push({ x: j.x, out: j.out, R: j.R, N: j.N, mode: j.accumulate ? MODE_ADD : MODE_WRITE });
          continue;
        }
        // More than 256 chunks take a third stage (still a fixed order).
        const partial = j.parameter && toArena ? colsumScratch(gpu, [chunks, j.N]) : empty(gpu, [chunks, j.N]);
        stages.push({ x: j.x, out: partial.view, R: j.R, N: j.N, mode: MODE_PARTIAL });
        made.push({ ...j, x: partial.view, R: chunks, ours: partial, keep: null, held: false, released: false });
      }
      dispatchStages(gpu, stages);
    } catch (e) {
      for (const j of [...made, ...next]) release(j);
      throw e;
    } finally {
      // What the recorded stages read may go (later work is ordered after them); after a failure, all of it.
      for (const j of group) release(j);
    }
    next.push(...made);
  }
  return next;
}

function release(j: Live): void {
  if (j.released) return;
  j.released = true;
  if (j.ours) releaseScratch(j.ours);
  if (j.held) j.keep!.storage.release();
}

/**
 * Records every waiting job to its end, in rounds of one stage each: the last stages reading the arena in table
 * dispatches (as many jobs as there are, outputs in up to TABLE_OUTPUTS buffers, never two meeting), the others four
 * to a dispatch.
 */
function drain(gpu: Gpu, queue: Queue): void {
  const tableable = (j: Live) => readsArena(j) && colsumChunks(j.R) === 1;
  while (queue.jobs.length > 0) {
    const round = queue.jobs;
    queue.jobs = [];
    queue.bytes = 0;
    // Split before recording (a recorded job's scratch is released). The others go first: where their next stage can
    // go in a table, it joins this round's.
    const tabled = round.filter(tableable);
    const next: Live[] = [];
    try {
      for (const group of disjointGroups(round.filter((j) => !tableable(j))))
        for (const j of recordStages(gpu, group)) (tableable(j) ? tabled : next).push(j);
      // One table per arena chunk the inputs lie in (chunks in the order the pass made them).
      const byChunk = new Map<GPUBuffer, Live[]>();
      for (const j of tabled) {
        const same = byChunk.get(j.x.buffer);
        if (same) same.push(j);
        else byChunk.set(j.x.buffer, [j]);
      }
      for (const jobs of byChunk.values()) for (const group of tableGroups(jobs)) recordTable(gpu, group);
    } catch (e) {
      // Back with the queue, which flushColsums releases (release() skips what was released already).
      queue.jobs.push(...round, ...tabled, ...next);
      throw e;
    }
    // Their next stages read scratch of ours: they may wait still, but only until this drain ends.
    for (const j of next) enqueue(queue, j);
  }
}

/** Opens a backward pass on this device: parameter jobs may wait for later column sums or flushColsums from now on. */
export function openColsums(gpu: Gpu): void {
  if (waiting.has(gpu)) return;
  waiting.set(gpu, { jobs: [], bytes: 0 });
  arenas.set(gpu, []);
}

/**
 * Ends the backward pass: records the waiting jobs (four to a dispatch, never two adding into one gradient) and frees
 * what they held. With `drop` (a pass that failed part way) records nothing.
 */
export function flushColsums(gpu: Gpu, drop = false): void {
  const queue = waiting.get(gpu);
  if (!queue) return;
  try {
    if (!drop) drain(gpu, queue);
  } finally {
    waiting.delete(gpu);
    for (const j of queue.jobs) release(j);
    for (const chunk of arenas.get(gpu) ?? []) chunk.buffer.dispose();
    arenas.delete(gpu);
  }
}

/** A buffer of a pass's arena and its free [start, end) element ranges, in order. */
interface Chunk {
  buffer: Tensor;
  free: [number, number][];
}
/**
 * The arena of the backward pass open on a device: chunks taken from the pool as its waiting sums ask for scratch and
 * given back at the end. What goes where depends on the sizes asked for alone, the same in every pass and run.
 */
const arenas = new WeakMap<Gpu, Chunk[]>();
const arenaRanges = new WeakMap<Tensor, { chunk: Chunk; start: number; n: number }>();
/**
 * Elements of an arena chunk (more only for one larger piece of scratch): the waiting sums' whole budget, so that one
 * table dispatch takes them all where they fit it (ref-8L's take 26 MB). Pooled, the chunk costs no allocation after
 * the first pass.
 */
const CHUNK_ELEMS = WAITING_BYTES / 4;

/**
 * Scratch for a column sum that will wait (a parameter's partials): inside a backward pass, a range of the pass's
 * arena (the first chunk with room, else a new one of CHUNK_ELEMS or the request's size), so
 * that the waiting sums can go in table dispatches at the end; outside a pass, a pooled tensor. Freed by the job that
 * reads it (ColsumJob.handOver).
 */
export function colsumScratch(gpu: Gpu, shape: readonly number[]): Tensor {
  const chunks = waiting.has(gpu) ? arenas.get(gpu) : undefined;
  if (!chunks) return empty(gpu, shape);
  const size = shape.reduce((a, b) => a * b, 1);
  const n = Math.max(VIEW_ALIGN_ELEMS, Math.ceil(size / VIEW_ALIGN_ELEMS) * VIEW_ALIGN_ELEMS);
  for (const chunk of chunks) {
    const k = chunk.free.findIndex(([a, b]) => b - a >= n);
    if (k >= 0) return carve(chunk, k, n, shape);
  }
  const elems = Math.max(n, CHUNK_ELEMS);
  const chunk: Chunk = { buffer: empty(gpu, [elems], 'f32', 'colsum scratch'), free: [[0, elems]] };
  untrack(chunk.buffer);
  chunks.push(chunk);
  return carve(chunk, 0, n, shape);
}

/** The first n elements of free range k of a chunk, as a tensor of `shape`. */
function carve(chunk: Chunk, k: number, n: number, shape: readonly number[]): Tensor {
  const [a, b] = chunk.free[k]!;
  if (b - a === n) chunk.free.splice(k, 1);
  else chunk.free[k] = [a + n, b];
  const t = chunk.buffer.slice(a, shape);
  arenaRanges.set(t, { chunk, start: a, n });
  return t;
}

/** Frees scratch from colsumScratch (or any tensor): its arena range goes back to its chunk's free list. */
function releaseScratch(t: Tensor): void {
  t.dispose();
  const r = arenaRanges.get(t);
  if (!r) return;
  arenaRanges.delete(t);
  // Back into the ordered free list, merged with its neighbours.
  const free = r.chunk.free;
  let k = 0;
  while (k < free.length && free[k]![0] < r.start) k++;
  free.splice(k, 0, [r.start, r.start + r.n]);
  if (k + 1 < free.length && free[k]![1] === free[k + 1]![0]) free.splice(k, 2, [free[k]![0], free[k + 1]![1]]);
  if (k > 0 && free[k - 1]![1] === free[k]![0]) free.splice(k - 1, 2, [free[k - 1]![0], free[k]![1]]);
}

/** Output buffers one table dispatch binds (colsum_table.wgsl's out0…out3). */
const TABLE_OUTPUTS = 4;

/** Splits last stages, in order, into table dispatches: outputs in at most TABLE_OUTPUTS buffers, none meeting. */
function tableGroups(jobs: readonly Live[]): Live[][] {
  return groupsOf(jobs, Infinity, TABLE_OUTPUTS);
}

/**
 * One table dispatch (colsum_table.wgsl) of the last stage of each job: every job reads the arena, their outputs lie
 * in at most TABLE_OUTPUTS buffers (each bound over the span of its outputs), and none meet.
 */
function recordTable(gpu: Gpu, jobs: readonly Live[]): void {
  const arena = arenaRanges.get(jobs[0]!.ours!)!.chunk.buffer;
  for (const j of jobs)
    if (!j.ours || arenaRanges.get(j.ours)?.chunk.buffer !== arena || colsumChunks(j.R) !== 1)
      throw new Error('colsum_table: every job reads one arena chunk and has one stage left');
  const spans = new Map<GPUBuffer, { lo: number; hi: number; slot: number }>();
  for (const j of jobs) {
    // Integer arithmetic only: a view's offset must stay a small integer (a float stored there would change the
    // representation of every view's fields, and every dispatch would pay for it).
    const lo = j.out.offset - (j.out.offset % 256);
    const hi = j.out.offset + j.out.size;
    const s = spans.get(j.out.buffer);
    if (!s) spans.set(j.out.buffer, { lo, hi, slot: spans.size });
    else {
      if (lo < s.lo) s.lo = lo;
      if (hi > s.hi) s.hi = hi;
    }
  }
  if (spans.size > TABLE_OUTPUTS) throw new Error(`colsum_table: outputs in ${spans.size} buffers`);
  const rows: number[] = [];
  let work = 0;
  const base = arena.view.offset;
  for (const j of jobs) {
    const s = spans.get(j.out.buffer)!;
    const mode = j.accumulate ? MODE_ADD : MODE_WRITE;
    rows.push(work, (j.x.offset - base) / 4, (j.out.offset - s.lo) / 4, j.R, j.N, mode, s.slot, 0);
    work += colsumWork(j.R, j.N);
  }
  const outs: BufferView[] = [0, 1, 2, 3].map((i) => gpu.dummyOut(i));
  for (const [buffer, s] of spans) outs[s.slot] = { buffer, offset: s.lo, size: s.hi - s.lo };
  const table = empty(gpu, [rows.length], 'i32');
  try {
    gpu.upload(table.view, Uint32Array.from(rows));
    const views = [arena.view, ...outs, table.view];
    gpu.dispatch(COLSUM_TABLE, views, { jobs: jobs.length, work }, grid2d(work, gpu.maxGridX));
  } finally {
    table.dispose();
    for (const j of jobs) release(j);
  }
}

/** Splits jobs, in order, into dispatches of up to COLSUM_JOBS whose next stages' outputs do not meet. */
function disjointGroups(jobs: readonly Live[]): Live[][] {
  return groupsOf(jobs, COLSUM_JOBS, Infinity);
}

/**
 * Splits jobs, in order, into groups of at most `most` jobs with outputs in at most `buffers` buffers: each takes the
 * first job left, then every later one that fits and whose next stage's output meets none of the group's (two adding
 * into one gradient in one dispatch would race).
 */
function groupsOf(jobs: readonly Live[], most: number, buffers: number): Live[][] {
  const left = [...jobs];
  const groups: Live[][] = [];
  while (left.length > 0) {
    const group = [left.shift()!];
    const outs = new Set([group[0]!.out.buffer]);
    for (let k = 0; k < left.length && group.length < most; ) {
      const j = left[k]!;
      if ((outs.has(j.out.buffer) || outs.size < buffers) && group.every((o) => !meet(o, j))) {
        group.push(...left.splice(k, 1));
        outs.add(j.out.buffer);
      } else k++;
    }
    groups.push(group);
  }
  return groups;
}
