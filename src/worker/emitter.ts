// Outgoing events from the worker: metric points are batched (one message per ~100 ms at most, so a fast GPU does not
// flood the UI thread), and any other event first flushes the batch, so the UI sees everything in order.

import type { MetricPoint, WorkerEvent } from './protocol';

export class Emitter {
  private batch: MetricPoint[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly post: (e: WorkerEvent) => void,
    private readonly intervalMs = 100,
  ) {}

  emit(e: WorkerEvent): void {
    this.flush();
    this.post(e);
  }

  point(p: MetricPoint): void {
    this.batch.push(p);
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.batch.length) return;
    const points = this.batch;
    this.batch = [];
    this.post({ type: 'metrics', points });
  }

  /** When each task last posted progress (one throttle per task, however many reporters ask for it). */
  private lastProgress = new Map<string, number>();

  /** A progress reporter for `task` that posts at most every 50 ms, always the last call. */
  progress(task: string): (done: number, total: number) => void {
    return (done, total) => {
      const now = Date.now();
      if (done < total && now - (this.lastProgress.get(task) ?? 0) < 50) return;
      this.lastProgress.set(task, now);
      this.emit({ type: 'progress', task, done, total });
    };
  }

  end(task: string): void {
    this.lastProgress.delete(task);
    this.emit({ type: 'progress-end', task });
  }

  /** Runs `fn` with a progress reporter for `task` and ends the task however fn ends (no bar left behind). */
  async tracked<T>(task: string, fn: (progress: (done: number, total: number) => void) => Promise<T>): Promise<T> {
    try {
      return await fn(this.progress(task));
    } finally {
      this.end(task);
    }
  }
}
