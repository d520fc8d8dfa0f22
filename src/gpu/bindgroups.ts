// Bind groups cached by what they bind. A training update binds the same pooled buffers at the same offsets (and the
// same uniform-ring slots) every time, so after the first update a dispatch creates no bind group. WebGPU has no
// compute bundles to replay a recorded step; this cache and the pipeline cache are what replay would save.

export interface BoundRange {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

export class BindGroupCache {
  private readonly ids = new WeakMap<object, number>();
  private nextId = 1;
  private readonly groups = new Map<string, GPUBindGroup>();
  hits = 0;
  misses = 0;

  /** At `max` entries the cache starts afresh (a run that keeps changing shapes must not grow it without bound). */
  constructor(
    private readonly device: GPUDevice,
    private readonly max = 16384,
  ) {}

  private id(o: object): number {
    let i = this.ids.get(o);
    if (i === undefined) {
      i = this.nextId++;
      this.ids.set(o, i);
    }
    return i;
  }

  /** The bind group binding `ranges` to bindings 0, 1, … of `layout`. */
  get(layout: GPUBindGroupLayout, ranges: readonly BoundRange[], label: string): GPUBindGroup {
    let key = String(this.id(layout));
    for (const r of ranges) key += `|${this.id(r.buffer)}:${r.offset}:${r.size}`;
    let group = this.groups.get(key);
    if (group) {
      this.hits++;
      return group;
    }
    this.misses++;
    if (this.groups.size >= this.max) this.groups.clear();
    const entries = ranges.map((r, binding) => ({
      binding,
      resource: { buffer: r.buffer, offset: r.offset, size: r.size },
    }));
    group = this.device.createBindGroup({ layout, entries, label });
    this.groups.set(key, group);
    return group;
  }

  /** Forgets every group: call before buffers they bind are destroyed (a group on a destroyed buffer fails submit). */
  clear(): void {
    this.groups.clear();
  }

  get size(): number {
    return this.groups.size;
  }
}
