// GPU-resident tensors: contiguous row-major views (offset, shape) into reference-counted buffers.

import type { BufferView, Gpu } from '../gpu/runtime';
import type { AnyNode } from './tape';
import { f32ToF16Bits, halvesToF32 } from '../util/half';

/**
 * f16: IEEE halves stored two per 32-bit word (element 2i in the low 16 bits), so kernels read them with
 * unpack2x16float on any adapter, with or without `shader-f16`; made by ops.toHalf, read by matmul as operand A.
 */
export type DType = 'f32' | 'i32' | 'f16';
/** Views must start on a 256-byte boundary (minStorageBufferOffsetAlignment): 64 four-byte elements. */
export const VIEW_ALIGN_ELEMS = 64;
const VIEW_ALIGN_BYTES = 256;

/** Bytes per element. */
export const bytesPer = (dtype: DType): number => (dtype === 'f16' ? 2 : 4);
/** Bytes `n` elements of `dtype` take in a buffer or binding (a whole number of 32-bit words). */
export const bytesFor = (dtype: DType, n: number): number => Math.ceil((n * bytesPer(dtype)) / 4) * 4;

/** One GPU buffer shared by the tensors that view it; returned to the pool when the last reference goes. */
export class Storage {
  private refs = 1;
  constructor(
    readonly gpu: Gpu,
    readonly buffer: GPUBuffer,
  ) {}
  retain(): void {
    if (this.refs <= 0) throw new Error('retain of freed storage');
    this.refs++;
  }
  release(): void {
    if (--this.refs === 0) this.gpu.release(this.buffer);
    else if (this.refs < 0) throw new Error('storage released too often');
  }
  get alive(): boolean {
    return this.refs > 0;
  }
}

let nextId = 1;
/** Open tidy() scopes; each collects the tensors created inside it. */
const scopes: Tensor[][] = [];

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 1)
      throw new Error(`Invalid tensor shape [${shape.join(', ')}]: dimensions must be positive integers.`);
    n *= d;
  }
  return n;
}

export class Tensor {
  readonly id = nextId++;
  readonly size: number;
  /** Set for leaves the user wants gradients of (parameters); ops propagate it to their outputs. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf; backward kernels add into it. */
  grad: Tensor | null = null;
  /** The recorded op that produced this tensor, if any. */
  node: AnyNode | null = null;
  private disposed = false;

  constructor(
    readonly storage: Storage,
    readonly shape: readonly number[],
    readonly dtype: DType = 'f32',
    /** Offset in elements from the start of the buffer. */
    readonly offset = 0,
  ) {
    this.size = sizeOf(shape);
    const at = offset * bytesPer(dtype);
    if (at % VIEW_ALIGN_BYTES)
      throw new Error(`Tensor view offset ${offset} (${dtype}) is not on a ${VIEW_ALIGN_BYTES}-byte boundary.`);
    if (at + bytesFor(dtype, this.size) > storage.buffer.size)
      throw new Error(
        `Tensor view [${shape.join(', ')}] at ${offset} overruns its ${storage.buffer.size}-byte buffer.`,
      );
    scopes[scopes.length - 1]?.push(this);
  }

  get gpu(): Gpu {
    return this.storage.gpu;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /**
   * The byte range a kernel binds. A disposed handle stays usable while something else (the tape, a view) still holds
   * its storage; once the storage went back to the pool, any use is an error.
   */
  get view(): BufferView {
    if (!this.storage.alive)
      throw new Error(`Tensor #${this.id} [${this.shape.join(', ')}] used after its storage was released (dispose()).`);
    return {
      buffer: this.storage.buffer,
      offset: this.offset * bytesPer(this.dtype),
      size: bytesFor(this.dtype, this.size),
    };
  }

  /**
   * The byte range of `n` elements from element `start` of this tensor, for a kernel binding or a copy. Unlike slice()
   * it makes no tensor and retains nothing (element offsets need not be 64-aligned for copies; bindings need them).
   */
  range(start: number, n: number): BufferView {
    if (start < 0 || n < 0 || start + n > this.size)
      throw new Error(`range ${start}+${n} exceeds tensor of ${this.size}`);
    // Halves come two per word: a range of them starts on a word and spans whole words (an odd n takes the next half).
    if (this.dtype === 'f16' && (this.offset + start) % 2 !== 0)
      throw new Error(`range() of an f16 tensor from element ${start}: it must start on a word (an even element)`);
    const v = this.view;
    return { buffer: v.buffer, offset: v.offset + start * bytesPer(this.dtype), size: bytesFor(this.dtype, n) };
  }

  /**
   * A view of `shape` starting `offset` elements into this tensor; shares (and retains) the storage. Not recorded:
   * gradients do not flow through it (for parameter views into flat buffers, whose gradients are views too).
   */
  slice(offset: number, shape: readonly number[]): Tensor {
    if (offset + sizeOf(shape) > this.size)
      throw new Error(`slice [${shape.join(', ')}] at ${offset} exceeds tensor of ${this.size}`);
    this.storage.retain();
    return new Tensor(this.storage, shape, this.dtype, this.offset + offset);
  }

  /** Same data, another shape of equal size (no copy). Differentiable: recorded on the tape by ops.reshape. */
  reshapeView(shape: readonly number[]): Tensor {
    if (sizeOf(shape) !== this.size)
      throw new Error(`reshape [${this.shape.join(', ')}] → [${shape.join(', ')}] changes the size`);
    return this.slice(0, shape);
  }

  /** Copies the data to the host (an f16 tensor's halves widened to f32, exactly). */
  async read(): Promise<Float32Array | Int32Array> {
    return this.dtype === 'i32' ? new Int32Array(await this.gpu.read(this.view)) : this.readF32();
  }

  /** The values as f32: an f32 tensor's as stored, an f16 tensor's widened exactly. */
  async readF32(): Promise<Float32Array> {
    if (this.dtype === 'i32') throw new Error('readF32 on an i32 tensor');
    const buf = await this.gpu.read(this.view);
    return this.dtype === 'f32' ? new Float32Array(buf) : halvesToF32(new Uint16Array(buf, 0, this.size));
  }

  /** Releases this handle's reference; the buffer returns to the pool when nothing else (tape, views) holds it. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.storage.release();
    this.grad?.dispose();
    this.grad = null;
  }
}

/** A new uninitialised tensor in its own pooled buffer. */
export function empty(gpu: Gpu, shape: readonly number[], dtype: DType = 'f32', label?: string): Tensor {
  return new Tensor(new Storage(gpu, gpu.alloc(bytesFor(dtype, sizeOf(shape)), label)), shape, dtype);
}

export function zeros(gpu: Gpu, shape: readonly number[], dtype: DType = 'f32'): Tensor {
  const t = empty(gpu, shape, dtype);
  gpu.clear(t.view);
  return t;
}

export function fromArray(gpu: Gpu, data: ArrayLike<number>, shape: readonly number[], dtype: DType = 'f32'): Tensor {
  const size = sizeOf(shape);
  if (data.length !== size)
    throw new Error(`fromArray: ${data.length} values for shape [${shape.join(', ')}] (${size})`);
  const t = empty(gpu, shape, dtype);
  if (dtype === 'f16') {
    const halves = new Uint16Array(bytesFor('f16', size) / 2); // an odd count pads its last word with a zero
    for (let i = 0; i < size; i++) halves[i] = f32ToF16Bits(data[i]!);
    gpu.upload(t.view, halves);
  } else gpu.upload(t.view, dtype === 'f32' ? Float32Array.from(data) : Int32Array.from(data));
  return t;
}

/**
 * Runs `fn`, then disposes every tensor created inside it except those returned (a tensor, array or object of tensors)
 * or listed in `keep`. Nested scopes hand survivors to the enclosing scope.
 */
export function tidy<T>(fn: () => T, keep: Tensor[] = []): T {
  scopes.push([]);
  let result: T;
  try {
    result = fn();
  } finally {
    const created = scopes.pop()!;
    const survivors = new Set<Tensor>(keep);
    collectTensors(result!, survivors);
    for (const t of created) {
      if (survivors.has(t)) scopes[scopes.length - 1]?.push(t);
      else t.dispose();
    }
  }
  return result;
}

/** Takes `t` out of every open tidy scope: its new owner (e.g. a tape node) disposes it. */
export function untrack(t: Tensor): void {
  for (const scope of scopes) {
    const i = scope.indexOf(t);
    if (i >= 0) scope.splice(i, 1);
  }
}

function collectTensors(x: unknown, out: Set<Tensor>): void {
  if (x instanceof Tensor) out.add(x);
  else if (Array.isArray(x)) for (const v of x) collectTensors(v, out);
  else if (x && typeof x === 'object' && !(x instanceof Promise))
    for (const v of Object.values(x)) collectTensors(v, out);
}

/**
 * Async form of tidy for sequential async code (tests, self-checks, evaluation): disposes every tensor created while
 * `fn` runs, returned ones included, so `fn` should return host data. Not for concurrent async work.
 */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  scopes.push([]);
  try {
    return await fn();
  } finally {
    for (const t of scopes.pop()!) t.dispose();
  }
}
