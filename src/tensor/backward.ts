// Every backward rule, one per op kind (the mapped type makes a missing rule a type error). Each fills the gradient
// slots it is given (GradSlot): an input's first gradient is written over fresh storage or moved in, later ones are
// added. The math is in the comment above each rule.

import type { BackwardTable } from './tape';
import { launchMatmul } from './ops/matmul';
import { type ColsumJob, launchColsums } from './ops/colsum';
import { launchGeluBackward, passGradient as pass } from './ops/elementwise';
import { layernormBackward } from './ops/layernorm';
import { attentionBackward } from './ops/attention';
import { ropeQkvBackward } from './ops/rope';
import { swigluBackward } from './ops/swiglu';
import { crossEntropyBackward } from './ops/crossentropy';
import { headCrossEntropyBackward, headDistillBackward } from './ops/head';
import { hiddenCosineBackward } from './ops/hidden-cosine';
import { embeddingBackward } from './ops/embedding';
import { launchBroadcastAccumulate } from './ops/reduce';
import { launchTranspose } from './ops/transpose';
import { launchToHalf } from './ops/cast';
import { empty } from './tensor';

/** Beta for a matmul writing into a slot's tensor: 1 adds, 0 writes over it. */
const beta = (accumulate: boolean): number => (accumulate ? 1 : 0);

export const backwardRules: BackwardTable = {
  // C = α·op(A)·op(B) + bias + R:  d op(A) = α·G·op(B)ᵀ,  d op(B) = α·op(A)ᵀ·G,  dbias = Σ_rows G,  dR = G
  // (f16 operands are read as halves; their gradients are f32, like every gradient). An f16 B is f16-mixed training's
  // weight copy: there G is rounded to halves for both products (the operands a tensor-core product takes), while the
  // bias gradient sums the f32 G.
  matmul(node, [g], gIn) {
    if (!g) return;
    const { transA, transB, alpha, batch, M, N, K, bias, residual } = node.attrs;
    const [dA, dB] = gIn;
    const dBias = bias ? gIn[2] : null;
    const dR = residual ? gIn[bias ? 3 : 2] : null;
    const [a, b] = node.inputs as [typeof g, typeof g];
    const gpu = g.gpu;
    const bBatched = b.shape.length > 2;
    const sB = bBatched ? K * N : 0;
    const halfA = a.dtype === 'f16';
    const halfB = b.dtype === 'f16';
    // G as the products read it: f32, or rounded to halves beside an f16 B (freed after the last product).
    const gh = halfB && (dA || dB) ? empty(gpu, g.shape, 'f16') : null;
    if (gh) launchToHalf(gpu, g.view, gh.view, g.size);
    const gv = gh ? gh.view : g.view;
    const halfG = !!gh;
    if (dA) {
      const { t, accumulate } = dA.out();
      if (!transA)
        launchMatmul(gpu, {
          a: gv,
          b: b.view,
          c: t.view,
          M,
          N: K,
          K: N,
          batch,
          strideA: M * N,
          strideB: sB,
          transB: !transB,
          alpha,
          beta: beta(accumulate),
          halfA: halfG,
          halfB,
        });
      else
        launchMatmul(gpu, {
          a: b.view,
          b: gv,
          c: t.view,
          M: K,
          N: M,
          K: N,
          batch,
          strideA: sB,
          strideB: M * N,
          transA: transB,
          transB: true,
          alpha,
          beta: beta(accumulate),
          halfA: halfB,
          halfB: halfG,
        });
    }
    // db = Σ_rows g: recorded by dB's product (beside its split-K sum where it has one), else on its own.
    const biasSum: ColsumJob | null = dBias
      ? {
          x: g.view,
          out: dBias.sum().view,
          R: batch * M,
          N,
          accumulate: true,
          parameter: node.inputs[2]!.node === null,
          // g stays as it is unless it becomes dR's gradient (then later rules add into it): kept, it may wait.
          keep: dR ? undefined : g,
        }
      : null;
    // A weight that is a parameter: its gradient is only added to, and its split-K sum may wait.
    const bLeaf = b.node === null;
    if (dB) {
      const { t, accumulate } = dB.out();
      // A 2-D B shared by every row of a folded A gets one matmul over all rows (batch was folded into M).
      if (!transB)
        launchMatmul(gpu, {
          a: a.view,
          b: gv,
          c: t.view,
          M: K,
          N,
          K: M,
          batch,
          strideA: M * K,
          strideB: M * N,
          transA: !transA,
          alpha,
          beta: beta(accumulate),
          halfA,
          halfB: halfG,
          alsoColsum: biasSum,
          cParameter: bLeaf && accumulate,
        });
      else if (halfA) {
        // dB = Gᵀ·A would take the f16 A as the kernel's B, which reads only f32: form Aᵀ·G [K, N] with A as the
        // kernel's A (halves), then transpose it into dB [N, K]. (plan() allows this for a 2-D B and untransposed A.)
        const tmp = empty(gpu, [K, N]);
        launchMatmul(gpu, {
          a: a.view,
          b: gv,
          c: tmp.view,
          M: K,
          N,
          K: M,
          transA: true,
          alpha,
          halfA: true,
          halfB: halfG,
          alsoColsum: biasSum,
        });
        launchTranspose(gpu, tmp.view, t.view, K, N, accumulate);
        tmp.dispose();
      } else
        launchMatmul(gpu, {
          a: gv,
          b: a.view,
          c: t.view,
          M: N,
          N: K,
          K: M,
          batch,
          strideA: M * N,
          strideB: M * K,
          transA: true,
          transB: transA,
          alpha,
          beta: beta(accumulate),
          halfA: halfG,
          alsoColsum: biasSum,
          cParameter: bLeaf && accumulate,
        });
    } else if (biasSum) launchColsums(gpu, [biasSum]);
    gh?.dispose();
    if (dR) pass(dR, g); // last: once moved, g is dR's gradient and later rules add into it
  },

  // y = a + b:  da = g, db = g
  add(_node, [g], [da, db]) {
    if (!g) return;
    if (da) pass(da, g);
    if (db) pass(db, g);
  },

  // y = s·x:  dx = s·g
  scale(node, [g], [dx]) {
    if (g && dx) pass(dx, g, node.attrs.factor);
  },

  // y = gelu(x):  dx = g·gelu'(x)
  gelu(node, [g], [dx]) {
    if (!g || !dx) return;
    const { t, accumulate } = dx.out();
    launchGeluBackward(g.gpu, node.inputs[0]!.view, g.view, t.view, g.size, accumulate);
  },

  // y = x̂·w + b:  dx = rstd·(ĝ − mean ĝ − x̂·mean(ĝ·x̂)) with ĝ = g·w;  dw = Σ g·x̂;  db = Σ g
  layernorm(node, [g], [dx, dw, db]) {
    if (!g) return;
    const { rows, C, mean, rstd } = node.attrs;
    layernormBackward(
      node.inputs[0]!,
      node.inputs[1]!,
      g,
      mean,
      rstd,
      dx?.out() ?? null,
      dw?.sum() ?? null,
      db?.sum() ?? null,
      rows,
      C,
      false,
      { w: node.inputs[1]!.node === null, b: node.inputs[2]!.node === null },
    );
  },

  // y = x̂·w with x̂ = x·rstd:  dx = rstd·(ĝ − x̂·mean(ĝ·x̂)) with ĝ = g·w;  dw = Σ g·x̂
  rmsnorm(node, [g], [dx, dw]) {
    if (!g) return;
    const { rows, C, mean, rstd } = node.attrs;
    const [x, w] = node.inputs as [typeof g, typeof g];
    layernormBackward(x, w, g, mean, rstd, dx?.out() ?? null, dw?.sum() ?? null, null, rows, C, true, {
      w: w.node === null,
      b: false,
    });
  },

  // y = silu(g)·u with s = σ(g):  dg = dy·u·s·(1 + g(1 − s)),  du = dy·g·s
  swiglu(node, [g], [dg, du]) {
    if (!g) return;
    const [gate, up] = node.inputs as [typeof g, typeof g];
    swigluBackward(g.gpu, gate.view, up.view, g.view, dg?.out() ?? null, du?.out() ?? null, g.size);
  },

  // x' = R(tθ)·x per rotated pair:  dx = R(−tθ)·dx' (q and k), dv = dqkv's v columns
  ropeQkv(node, [g], [dq, dk, dv]) {
    if (!g) return;
    const { table, ...dims } = node.attrs;
    ropeQkvBackward(g, table, dq?.out() ?? null, dk?.out() ?? null, dv?.out() ?? null, dims);
  },

  // o = softmax(q·kᵀ/√D + causal mask)·v:  dv = Pᵀ·dO,  dS = P∘(dO·vᵀ − rowsum(dO∘o)),  dq = dS·k/√D,  dk = dSᵀ·q/√D
  // (with grouped key/value heads, a key/value head's gradient sums those of the query heads it serves)
  attention(node, [g], [dqkv]) {
    if (!g || !dqkv) return;
    const { B, T, H, KV, D, lse } = node.attrs;
    attentionBackward(node.inputs[0]!, node.outputs[0]!, g, lse, dqkv.out(), B, T, H, KV, D);
  },

  // L = mean_i (lse_i − z_i[y_i]):  dz_i = g·(softmax(z_i) − onehot(y_i)) / count
  crossEntropy(node, [g], [dLogits]) {
    if (!g || !dLogits) return;
    const { N, V, lse, count } = node.attrs;
    crossEntropyBackward(node.inputs[0]!, node.inputs[1]!, lse, count, g, dLogits.out(), N, V);
  },

  // L = CE(x·wᵀ):  dlogits as for crossEntropy, chunk by chunk;  dx = dlogits·w,  dw = dlogitsᵀ·x
  headCrossEntropy(node, [g], [dx, dw]) {
    if (!g) return;
    const [x, w, tgt] = node.inputs as [typeof g, typeof g, typeof g];
    headCrossEntropyBackward(x, w, tgt, g, dx, dw, node.attrs);
  },

  // L = α·CE + (1−α)·τ²·KL(teacher ‖ student): dx and dw were made in the forward pass for this seed
  headDistill(node, [g], [dx, dw]) {
    if (!g) return;
    headDistillBackward(g, dx, dw, node.attrs);
  },

  // y = x with the side loss L_c = scale·mean(1 − cos(x, t)):  dx = g + seed·dL_c/dx  (seed: the step's, named in forward)
  hiddenCosine(node, [g], [dx]) {
    if (g && dx) hiddenCosineBackward(node.inputs[0]!, g, dx, node.attrs);
  },

  // out[b,t] = table[tok] + positions[t]:  dTable[id] = Σ_{tok=id} g,  dPositions[t] = Σ_b g[b,t]
  embedding(node, [g], [dTable, dPositions]) {
    if (!g) return;
    const { B, T, C, buckets } = node.attrs;
    embeddingBackward(g, dTable?.sum() ?? null, dPositions?.sum() ?? null, B, T, C, buckets);
  },

  // y = Σx:  dx_i = g
  sum(node, [g], [dx]) {
    if (g && dx) launchBroadcastAccumulate(g.gpu, g.view, dx.sum().view, node.attrs.n);
  },

  // y = x viewed as another shape:  dx = g (same elements)
  reshape(_node, [g], [dx]) {
    if (g && dx) pass(dx, g);
  },

  // y = half(x):  dx = g (rounding taken as the identity)
  toHalf(_node, [g], [dx]) {
    if (g && dx) pass(dx, g);
  },

  // y = xᵀ:  dx = gᵀ
  transpose(node, [g], [dx]) {
    if (!g || !dx) return;
    const { t, accumulate } = dx.out();
    launchTranspose(g.gpu, g.view, t.view, node.attrs.C, node.attrs.R, accumulate);
  },
};
