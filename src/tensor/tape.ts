// The define-by-run tape: ops record nodes while grad mode is on; backward() walks them in reverse.

import { SAVED, type OpAttrs, type OpKind } from './opkinds';
import { type Tensor, empty, untrack, zeros } from './tensor';

export interface Node<K extends OpKind> {
  kind: K;
  inputs: Tensor[];
  outputs: Tensor[];
  attrs: OpAttrs[K];
  /** Tensors the node owns (saved statistics); disposed with the node. */
  owned: Tensor[];
  /** The inputs and outputs whose storage the node keeps alive for its backward rule (SAVED). */
  held: Tensor[];
}
export type AnyNode = { [K in OpKind]: Node<K> }[OpKind];

/**
 * Where a backward rule puts the gradient of one of its node's inputs. An intermediate tensor has no gradient until
 * the first rule reaching it writes one: that rule overwrites fresh storage (no zero fill, no read of zeros), later
 * ones add to it. A parameter's gradient (a leaf's `.grad`, kept across steps) is always added to.
 */
export interface GradSlot {
  /**
   * The gradient tensor to write into, and whether the kernel must add to it (true) or write every element over
   * uninitialised storage (false, only on the first call for an input that had no gradient yet and occurs once
   * among the node's inputs).
   */
  out(): { t: Tensor; accumulate: boolean };
  /** The gradient so far, zero-filled when none reached the input yet: for kernels that can only add. */
  sum(): Tensor;
  /**
   * Makes g's storage the input's first gradient (moved, not copied) and says true, when the input has no gradient
   * yet and the tape allows it: g is one of the node's output gradients (not the caller's seed) or a tensor the node
   * owns, given to no other input, and no input occurs twice. Otherwise does nothing and says false.
   */
  take(g: Tensor): boolean;
}

/**
 * A backward rule: puts d(loss)/d(input_i) into gIn[i] (null when input i needs no gradient), given the gradient of
 * each output (undefined when none flowed). A rule fills each slot once: take, then out or sum if that failed.
 */
export type BackwardRule<K extends OpKind> = (
  node: Node<K>,
  gOut: (Tensor | undefined)[],
  gIn: (GradSlot | null)[],
) => void;
export type BackwardTable = { [K in OpKind]: BackwardRule<K> };

let gradEnabled = true;
/** Tests: fill every fresh gradient target with NaN, so a kernel that leaves an element unwritten shows. */
let poisonFresh = false;

/** Runs `fn` (and awaits it) with fresh gradient storage made NaN before a rule writes it: the self-checks' setting. */
export async function withPoisonedGradients<T>(fn: () => T | Promise<T>): Promise<T> {
  const was = poisonFresh;
  poisonFresh = true;
  try {
    return await fn();
  } finally {
    poisonFresh = was;
  }
}

/** Runs `fn` without recording ops (evaluation, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

export class Tape {
  private nodes: AnyNode[] = [];

  get length(): number {
    return this.nodes.length;
  }

  /** Whether an op over these inputs would be recorded now (grad mode on and an input requiring grad). */
  records(inputs: readonly Tensor[]): boolean {
    return gradEnabled && inputs.some((t) => t.requiresGrad);
  }

  /**
   * Records an op if grad mode is on and any input requires grad; marks the outputs accordingly. The inputs and
   * outputs its backward rule reads (SAVED) are retained, so the caller may dispose its handles before backward; the
   * others are only keys for routing gradients, and their storage goes back to the pool when the caller is done.
   */
  record<K extends OpKind>(
    kind: K,
    inputs: Tensor[],
    outputs: Tensor[],
    attrs: OpAttrs[K],
    owned: Tensor[] = [],
  ): void {
    if (!this.records(inputs)) {
      for (const t of owned) t.dispose();
      return;
    }
    // The node owns its saved tensors from now on, whatever scope created them.
    for (const t of owned) untrack(t);
    const saved = SAVED[kind];
    const held = [...saved.inputs.flatMap((i) => inputs[i] ?? []), ...(saved.outputs ? outputs : [])];
    const node = { kind, inputs, outputs, attrs, owned, held } as Node<K>;
    for (const t of held) t.storage.retain();
    for (const o of outputs) {
      o.requiresGrad = true;
      o.node = node as unknown as AnyNode;
    }
    this.nodes.push(node as unknown as AnyNode);
  }

  /**
   * Back-propagates from `loss` (a scalar, or any tensor with `seed` as its gradient) and clears the tape.
   * Leaf gradients accumulate into `t.grad` (allocated as zeros when first needed); an intermediate's gradient is
   * made by the first rule that reaches it (GradSlot) and freed once its producer's rule has run.
   */
  backward(loss: Tensor, rules: BackwardTable, seed?: Tensor): void {
    const gpu = loss.gpu;
    if (!loss.node && !loss.requiresGrad) {
      throw new Error(
        'backward(): the loss depends on nothing that requires grad (computed under noGrad, or from tensors without requiresGrad).',
      );
    }
    const grads = new Map<Tensor, Tensor>();
    const isLeaf = (t: Tensor) => t.node === null;
    // The seed: d(loss)/d(loss) = 1.
    const g0 = seed ?? zeros(gpu, loss.shape);
    if (!seed) {
      if (loss.size !== 1) throw new Error('backward() of a non-scalar needs a seed gradient');
      gpu.upload(g0.view, new Float32Array([1]));
    }
    grads.set(loss, g0);

    const leafGrad = (inp: Tensor): Tensor => {
      if (inp.isDisposed) {
        throw new Error(
          `backward(): parameter #${inp.id} [${inp.shape.join(', ')}] was disposed before its gradient was computed; create parameter tensors once, outside tidy().`,
        );
      }
      if (!inp.grad) {
        // A leaf's gradient lives as long as the leaf (across steps), not as long as the scope backward ran in.
        inp.grad = zeros(gpu, inp.shape);
        untrack(inp.grad);
      }
      return inp.grad;
    };
    // One slot per distinct input of a node; `movable`: the tensors its rule may give away as a first gradient (null:
    // an input occurs twice, and then its slot is zero-filled rather than fresh, since a rule filling it once per
    // occurrence may add part of one before writing the other, e.g. the head's x = w chunk by chunk, when tied to its own input).
    const slotFor = (inp: Tensor, movable: Set<Tensor> | null): GradSlot => {
      if (isLeaf(inp)) {
        return { out: () => ({ t: leafGrad(inp), accumulate: true }), sum: () => leafGrad(inp), take: () => false };
      }
      const sum = (): Tensor => {
        let t = grads.get(inp);
        if (!t) {
          t = zeros(gpu, inp.shape);
          grads.set(inp, t);
        }
        return t;
      };
      const fresh = (): Tensor => {
        const t = empty(gpu, inp.shape);
        if (poisonFresh) gpu.upload(t.view, new Float32Array(t.size).fill(NaN));
        grads.set(inp, t);
        return t;
      };
      return {
        out: () => {
          const t = grads.get(inp);
          if (t) return { t, accumulate: true };
          return movable ? { t: fresh(), accumulate: false } : { t: sum(), accumulate: true };
        },
        sum,
        take: (g) => {
          if (grads.has(inp) || g.size !== inp.size || g.dtype !== 'f32' || g.isDisposed || !movable?.delete(g))
            return false;
          grads.set(inp, g.slice(0, inp.shape)); // shares (retains) g's storage; g's own handle goes after the rule
          return true;
        },
      };
    };

    try {
      for (let i = this.nodes.length - 1; i >= 0; i--) {
        const node = this.nodes[i]!;
        const gOut = node.outputs.map((o) => grads.get(o));
        if (gOut.every((g) => g === undefined)) continue;
        const distinct = new Set(node.inputs).size === node.inputs.length;
        // What a rule may move into an input: its output gradients (not the caller's seed) and what the node owns
        // (the head's precomputed gradients), each once; nothing when an input occurs twice (a moved gradient would be
        // added to itself within one dispatch).
        const movable = distinct
          ? new Set([...gOut.filter((g): g is Tensor => g !== undefined && g !== seed), ...node.owned])
          : null;
        const slots = new Map<Tensor, GradSlot>();
        const gIn = node.inputs.map((inp) => {
          if (!inp.requiresGrad) return null;
          let s = slots.get(inp);
          if (!s) {
            s = slotFor(inp, movable);
            slots.set(inp, s);
          }
          return s;
        });
        (rules[node.kind] as BackwardRule<OpKind>)(node as Node<OpKind>, gOut, gIn);
        for (const o of node.outputs) {
          const g = grads.get(o);
          if (g && g !== seed) g.dispose();
          grads.delete(o);
        }
      }
    } finally {
      for (const [t, g] of grads) if (g !== seed && t !== loss) g.dispose();
      if (!seed && grads.has(loss)) g0.dispose();
      this.clear();
    }
  }

  /** Drops every recorded node, releasing what they held. */
  clear(): void {
    for (const node of this.nodes) {
      for (const t of node.held) t.storage.release();
      for (const o of node.outputs) {
        o.node = null;
        o.requiresGrad = false;
      }
      for (const t of node.owned) t.dispose();
    }
    this.nodes = [];
  }
}

/** The tape ops record onto. One per engine; training is single-threaded. */
export const tape = new Tape();
