// Buffer pool: GPU buffers are reused by exact (rounded) size and usage, so a training step allocates nothing.

/** Every pooled size is a multiple of this: binding offsets and sizes stay aligned. */
export const POOL_ALIGN = 256;

export interface PoolStats {
  /** Buffers alive (in use + free), and their bytes. */
  buffers: number;
  bytes: number;
  inUse: number;
  inUseBytes: number;
  /** Most bytes alive at once since creation (or the last resetPeak). */
  peakBytes: number;
}

export class BufferPool {
  private free = new Map<string, GPUBuffer[]>();
  private live = new Set<GPUBuffer>();
  private inUse = new Set<GPUBuffer>();
  private bytes = 0;
  private peak = 0;
  /** Buffers created since construction (a warm training step creates none). */
  created = 0;
  /** Creation order of each live buffer: free lists are kept sorted by it. */
  private readonly order = new Map<GPUBuffer, number>();

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferSize: number,
  ) {}

  /** A buffer of at least `byteSize` bytes with exactly `usage`; contents are undefined. */
  acquire(byteSize: number, usage: GPUBufferUsageFlags, label = 'pooled'): GPUBuffer {
    const size = Math.max(POOL_ALIGN, Math.ceil(byteSize / POOL_ALIGN) * POOL_ALIGN);
    if (size > this.maxBufferSize) {
      throw new RangeError(
        `A ${label} buffer of ${formatBytes(size)} exceeds this adapter's maxBufferSize of ${formatBytes(this.maxBufferSize)} ` +
          `(by ${formatBytes(size - this.maxBufferSize)}). Use a smaller batch or context.`,
      );
    }
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    let buf = list?.pop();
    if (!buf) {
      buf = this.device.createBuffer({ size, usage, label });
      this.order.set(buf, this.created++);
      this.live.add(buf);
      this.bytes += size;
      if (this.bytes > this.peak) this.peak = this.bytes;
    }
    this.inUse.add(buf);
    return buf;
  }

  /**
   * Returns a buffer for reuse. GPU work already recorded that reads it stays correct: reuse is queue-ordered.
   * A free list stays sorted by creation (acquire hands out the newest), so which buffer a tensor gets depends on
   * which buffers are free, never on the order they were released in: a training update finds the same free set as
   * the one before it and so binds the same buffers, and its bind groups are all cached. (Released in arrival order,
   * the lists came back permuted each update and the cache kept missing while the permutations cycled.)
   */
  release(buf: GPUBuffer): void {
    if (!this.inUse.delete(buf)) throw new Error(`Buffer "${buf.label}" released twice or not from this pool.`);
    const key = `${buf.usage}:${buf.size}`;
    let list = this.free.get(key);
    if (!list) {
      list = [];
      this.free.set(key, list);
    }
    const rank = this.order.get(buf)!;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.order.get(list[mid]!)! < rank) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, buf);
  }

  /** Destroys every free buffer. Call through Gpu.trim(), which submits recorded work that may still use them. */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.live.delete(b);
        this.order.delete(b);
        this.bytes -= b.size;
        b.destroy();
      }
    }
    this.free.clear();
  }

  stats(): PoolStats {
    let inUseBytes = 0;
    for (const b of this.inUse) inUseBytes += b.size;
    return { buffers: this.live.size, bytes: this.bytes, inUse: this.inUse.size, inUseBytes, peakBytes: this.peak };
  }

  /** Starts peak tracking afresh from what is alive now. */
  resetPeak(): void {
    this.peak = this.bytes;
  }

  destroyAll(): void {
    for (const b of this.live) b.destroy();
    this.live.clear();
    this.order.clear();
    this.inUse.clear();
    this.free.clear();
    this.bytes = 0;
  }
}

export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}
