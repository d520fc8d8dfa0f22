// Self-checks of the Llama family's ops against the f64 references of src/reference/llama-ops.ts: RMSNorm (also over
// heads, as Qwen3 applies it to q and k), SwiGLU, rotary embedding packed into qkv (KV = 1, a divisor of H, and H;
// head sizes 32 to 128), and the token embedding without a position table.

import { Rng } from '../util/rng';
import { backward, fromArray, tidyAsync } from '../tensor';
import * as ops from '../tensor';
import { ropeInverseFrequencies } from '../tensor/ops/rope';
import {
  rmsnormBackwardRef,
  rmsnormRef,
  ropeQkvBackwardRef,
  ropeQkvRef,
  swigluBackwardRef,
  swigluRef,
} from '../reference/llama-ops';
import { embeddingBackwardRef, embeddingRef } from '../reference/nn';
import { f32 } from './compare';
import type { Check } from './harness';
import { type Ctx, grad, param, TOL_ELEMENTWISE, TOL_EXACT, TOL_REDUCE } from './support';

async function rmsnormCase({ gpu, expect }: Ctx, rng: Rng, rows: number, C: number, eps: number): Promise<void> {
  await tidyAsync(async () => {
    const X = f32(rng.normals(rows * C, 1.5));
    const W = f32(rng.normals(C, 0.7).map((v) => v + 1));
    const G = f32(rng.normals(rows * C));
    const x = param(gpu, X, [rows, C]);
    const w = param(gpu, W, [C]);
    const y = ops.rmsnorm(x, w, eps);
    backward(y, fromArray(gpu, G, y.shape));
    const tag = `rows=${rows} C=${C} eps=${eps}`;
    expect(`forward ${tag}`, await y.readF32(), rmsnormRef(X, W, rows, C, eps), TOL_REDUCE);
    const ref = rmsnormBackwardRef(X, W, G, rows, C, eps);
    expect(`dx ${tag}`, await grad(x), ref.dx, TOL_REDUCE);
    expect(`dw ${tag}`, await grad(w), ref.dw, TOL_REDUCE);
  });
}

const rmsnormCheck: Check = {
  name: 'rmsnorm',
  kernels: ['layernorm_forward', 'layernorm_backward'],
  async run(ctx) {
    const rng = new Rng(41);
    // Odd widths, a row, several 256-row chunks of the weight gradient; [B·T·H, D] rows as Qwen3's per-head norm
    // makes them (D = 64 and 128, eps 1e-6).
    for (const [rows, C, eps] of [
      [1, 1, 1e-5],
      [7, 33, 1e-5],
      [5, 300, 1e-5],
      [257, 130, 1e-5],
      [3 * 5 * 4, 64, 1e-6],
      [2 * 3 * 2, 128, 1e-6],
    ] as const)
      await rmsnormCase(ctx, rng, rows, C, eps);
  },
};

const swigluCheck: Check = {
  name: 'swiglu',
  kernels: ['swiglu_forward', 'swiglu_backward'],
  async run({ gpu, expect }) {
    const rng = new Rng(42);
    for (const n of [1, 7, 1001]) {
      await tidyAsync(async () => {
        // Scale 4 reaches both tails of the sigmoid.
        const Gt = f32(rng.normals(n, 4));
        const U = f32(rng.normals(n));
        const DY = f32(rng.normals(n));
        const g = param(gpu, Gt, [n]);
        const u = param(gpu, U, [n]);
        const y = ops.swiglu(g, u);
        backward(y, fromArray(gpu, DY, y.shape));
        expect(`forward n=${n}`, await y.readF32(), swigluRef(Gt, U), TOL_ELEMENTWISE);
        const ref = swigluBackwardRef(Gt, U, DY);
        expect(`dg n=${n}`, await grad(g), ref.dg, TOL_ELEMENTWISE);
        expect(`du n=${n}`, await grad(u), ref.du, TOL_ELEMENTWISE);
      });
    }
  },
};

const ropeCheck: Check = {
  name: 'rotary embedding into qkv',
  kernels: ['rope_qkv_forward', 'rope_qkv_backward'],
  async run({ gpu, expect }) {
    const rng = new Rng(43);
    // KV = 1, KV dividing H, KV = H; D 32, 64, 96, 128 and a tiny 2; odd T; rope_theta 10^4 and 10^6 (Qwen's). Angles
    // reach T·θ₀ = T radians: the host table keeps cos/sin accurate where WGSL's are not.
    for (const [B, T, H, KV, D, theta] of [
      [1, 1, 1, 1, 2, 10000],
      [2, 9, 4, 1, 32, 10000],
      [1, 37, 4, 2, 64, 1000000],
      [2, 5, 3, 3, 96, 10000],
      [1, 300, 2, 1, 128, 500000],
    ] as const) {
      await tidyAsync(async () => {
        const invFreq = ropeInverseFrequencies(D, theta);
        const Q = f32(rng.normals(B * T * H * D));
        const K = f32(rng.normals(B * T * KV * D));
        const V = f32(rng.normals(B * T * KV * D));
        const G = f32(rng.normals(B * T * (H + 2 * KV) * D));
        const q = param(gpu, Q, [B, T, H * D]);
        const k = param(gpu, K, [B, T, KV * D]);
        const v = param(gpu, V, [B, T, KV * D]);
        const out = ops.ropeQkv(q, k, v, H, KV, invFreq);
        backward(out, fromArray(gpu, G, out.shape));
        const dims = { B, T, H, KV, D };
        const tag = `B=${B} T=${T} H=${H} KV=${KV} D=${D} θ=${theta}`;
        const tol = TOL_ELEMENTWISE;
        expect(`forward ${tag}`, await out.readF32(), ropeQkvRef(Q, K, V, invFreq, dims), tol);
        const ref = ropeQkvBackwardRef(G, invFreq, dims);
        expect(`dq ${tag}`, await grad(q), ref.dq, tol);
        expect(`dk ${tag}`, await grad(k), ref.dk, tol);
        expect(`dv ${tag}`, await grad(v), ref.dv, TOL_EXACT);
      });
    }
  },
};

const embeddingNoPositionsCheck: Check = {
  name: 'token embedding without a position table',
  kernels: ['embedding_forward', 'embedding_backward_tokens'],
  async run({ gpu, expect }) {
    const rng = new Rng(44);
    for (const [B, T, C, V] of [
      [1, 1, 1, 1],
      [2, 13, 37, 29],
    ] as const) {
      await tidyAsync(async () => {
        const tokens = Int32Array.from({ length: B * T }, () => rng.int(V));
        const TABLE = f32(rng.normals(V * C));
        const G = f32(rng.normals(B * T * C));
        const table = param(gpu, TABLE, [V, C]);
        const out = ops.embedding(tokens, B, T, table, null);
        backward(out, fromArray(gpu, G, out.shape));
        const zeros = new Float64Array(T * C);
        const tag = `B=${B} T=${T} C=${C} V=${V}`;
        expect(`forward ${tag}`, await out.readF32(), embeddingRef(tokens, B, T, TABLE, zeros, C), TOL_EXACT);
        const ref = embeddingBackwardRef(tokens, B, T, G, V, T, C);
        expect(`dTable ${tag}`, await grad(table), ref.dTable, TOL_REDUCE);
      });
    }
  },
};

export const llamaChecks: Check[] = [rmsnormCheck, swigluCheck, ropeCheck, embeddingNoPositionsCheck];
