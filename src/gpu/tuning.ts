// Per-device kernel choices: for kernels that come in interchangeable variants (bit-identical results, different
// speed), the variant timed fastest for each shape on this device, and the shapes launched but not yet timed. The Gpu
// owns one (GpuOptions.tuneKernels says whether new shapes are queued); the kernel's own module times the variants.

export class KernelChoices<Shape = unknown> {
  private readonly chosen = new Map<string, string>();
  private readonly pending = new Map<string, Shape>();

  /** Whether shapes without a choice are queued for timing. Off: they run the kernel's default variant. */
  constructor(readonly enabled: boolean) {}

  /** The variant chosen for `key`, or undefined (then the shape is queued when tuning is enabled). */
  lookup(key: string, shape: Shape): string | undefined {
    const v = this.chosen.get(key);
    if (v === undefined && this.enabled) this.pending.set(key, shape);
    return v;
  }

  choose(key: string, variant: string): void {
    this.chosen.set(key, variant);
    this.pending.delete(key);
  }

  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  /** The queued shapes, removed from the queue. */
  takePending(): [string, Shape][] {
    const out = [...this.pending];
    this.pending.clear();
    return out;
  }
}
