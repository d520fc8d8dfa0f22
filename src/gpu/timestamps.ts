// GPU timestamps per dispatch (timestamp-query): each profiled dispatch gets its own pass, resolved per submit.

export interface KernelTiming {
  label: string;
  /** GPU time of the dispatch in nanoseconds (end − beginning of its pass). */
  ns: number;
  /** Bytes of the storage views bound (an upper bound of the memory traffic: each binding read or written once). */
  bytes: number;
  /** Floating-point operations the dispatch executes, where its op states them (matmuls, attention). */
  flops?: number;
}

interface Entry {
  label: string;
  bytes: number;
  flops?: number;
}

const CAPACITY = 2048; // queries per submit: 1024 profiled dispatches

export class TimestampProfiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolve: GPUBuffer;
  private labels: Entry[] = [];
  private pending: Promise<KernelTiming[]>[] = [];

  constructor(private readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: CAPACITY, label: 'timestamps' });
    this.resolve = device.createBuffer({
      size: CAPACITY * 8,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      label: 'timestamps-resolve',
    });
  }

  /** True when the current submit has no room for another profiled dispatch. */
  get full(): boolean {
    return this.labels.length * 2 >= CAPACITY;
  }

  /** Timestamp writes for the next dispatch's pass. */
  next(label: string, bytes: number, flops?: number): GPUComputePassTimestampWrites {
    const i = this.labels.length;
    this.labels.push(flops === undefined ? { label, bytes } : { label, bytes, flops });
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Called just before submit: resolves this submit's queries into a fresh readback buffer. */
  encodeResolve(encoder: GPUCommandEncoder): (() => void) | null {
    const n = this.labels.length;
    if (!n) return null;
    const labels = this.labels;
    this.labels = [];
    const staging = this.device.createBuffer({
      size: n * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: 'timestamps-read',
    });
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolve, 0);
    encoder.copyBufferToBuffer(this.resolve, 0, staging, 0, n * 16);
    return () => {
      const read = staging.mapAsync(GPUMapMode.READ).then(() => {
        const t = new BigUint64Array(staging.getMappedRange().slice(0));
        staging.destroy();
        return labels.map((e, i) => ({ ...e, ns: Number(t[2 * i + 1]! - t[2 * i]!) }));
      });
      read.catch(() => undefined); // rejected only with a lost device; take() still reports it to whoever awaits
      this.pending.push(read);
    };
  }

  /** All timings of submits made so far, in dispatch order. */
  async take(): Promise<KernelTiming[]> {
    const p = this.pending;
    this.pending = [];
    return (await Promise.all(p)).flat();
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolve.destroy();
  }
}
