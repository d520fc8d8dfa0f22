// `npm run bench` at smoke-test size on this machine's adapter (SwiftShader in CI): the command builds, runs every
// section (ours and the TensorFlow.js peer), and writes a complete report. Figures here are not claimed as speed.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GpuLimits } from '../../src/gpu/limits';
import { variantsFor } from '../../src/tensor/ops/matmul';
import { type BenchReport, kernelClasses, stepConfigs, stepConfigsForPeers } from '../../bench/bench';
import { flopsPerToken } from '../../src/train/mfu';
import { familyOf } from '../../src/model/registry';
import { paramCount } from '../../src/model/params';

const ROOT = join(__dirname, '../..');

describe('npm run bench (CI size)', () => {
  it('reports matmul, attention, reductions, training updates and the TF.js peer, with no failed case', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'bench-')), 'report.json');
    const r = spawnSync(
      'npm',
      ['run', '--silent', 'bench', '--', '--size', 'ci', '--json', out, '--peak-tflops', '1'],
      { cwd: ROOT, encoding: 'utf8', timeout: 600_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
    expect(rep.errors).toEqual([]);
    expect(rep.complete).toBe(true);
    expect(rep.size).toBe('ci');
    expect(rep.adapter.features).toContain('timestamp-query');
    expect(rep.peak?.source).toBe('user');
    expect(rep.matmul.length).toBe(4);
    // The long-K case runs split-K (two K ranges), the others whole.
    expect(rep.matmul.map((m) => m.kParts)).toEqual([1, 1, 1, 2]);
    for (const m of rep.matmul) {
      expect(m.ms).toBeGreaterThan(0);
      expect(Number.isFinite(m.tflops) && m.tflops > 0).toBe(true);
      expect(Object.keys(m.variantMs).sort()).toEqual(
        [...variantsFor({ limits: new GpuLimits(rep.adapter.limits) }, m)].sort(),
      );
      expect(m.maxRelErr).toBeLessThan(1e-5);
      // The same kernel, re-timed on a second device whose shaders have no bounds clamping.
      expect(m.uncheckedMs).toBeGreaterThan(0);
    }
    expect(rep.boundsChecks).toBe(true);
    const [att] = rep.attention;
    expect(att!.forwardMs).toBeGreaterThan(0);
    expect(att!.backwardMs).toBeGreaterThan(0);
    // The reducing kernels, with subgroups (SwiftShader has them) and again on a device told not to use them.
    expect(rep.subgroupReduce).toBe(true);
    expect(rep.reduce.map((r) => r.kernel)).toEqual([
      'layernorm forward',
      'layernorm backward (dx)',
      'cross-entropy forward',
    ]);
    for (const r of rep.reduce) {
      expect(r.subgroups).toBe(true);
      expect(r.ms).toBeGreaterThan(0);
      expect(r.msWithoutSubgroups).toBeGreaterThan(0);
      expect(r.gbPerSec).toBeGreaterThan(0);
    }
    const [step] = rep.steps;
    expect(step!.config).toBe('tiny');
    // A random model on 512 tokens starts near ln 512 ≈ 6.24.
    expect(Math.abs(step!.finalLoss - Math.log(512))).toBeLessThan(0.3);
    expect(step!.tokensPerSec).toBeGreaterThan(0);
    expect(step!.encodeShare).toBeGreaterThan(0);
    // Handing the batch to the GPU is part of recording an update.
    expect(step!.submitMsPerStep).toBeGreaterThan(0);
    expect(step!.submitMsPerStep).toBeLessThanOrEqual(step!.encodeMsPerStep);
    // What recording an update costs in objects: dispatches, and no bind group or buffer once the caches are warm.
    expect(step!.dispatchesPerStep).toBeGreaterThan(20);
    // Zero fills: the gradient banks and the loss sum, once per update. Intermediate gradients are written by the
    // first rule that reaches them, never cleared first (each clear would also end a compute pass).
    expect(step!.clearsPerStep).toBeLessThanOrEqual(3);
    expect(step!.clearsPerStep).toBeGreaterThan(0);
    expect(step!.bindGroupsCreatedPerStep).toBe(0); // after 3 warm-up updates
    expect(step!.buffersCreatedPerStep).toBe(0);
    expect(step!.gpuMsPerStep).toBeGreaterThan(0);
    expect(step!.kernels.map((k) => k.label)).toContain('matmul');
    // The profile is one bare update (no evaluation in it) and reports every kernel class: its dispatches are the
    // timed updates' dispatches, and the classes' times add up to its GPU time.
    expect(step!.kernels.reduce((a, k) => a + k.count, 0)).toBe(step!.dispatchesPerStep);
    expect(step!.kernels.reduce((a, k) => a + k.ms, 0)).toBeCloseTo(step!.gpuMsPerStep!, 9);
    const byLabel = new Map(step!.kernels.map((k) => [k.label, k]));
    // Matmuls and attention state their FLOPs; every class states the bytes it bound.
    for (const label of ['matmul', 'attention_forward', 'attention_backward_dq', 'attention_backward_dkv'])
      expect(byLabel.get(label)?.tflops, label).toBeGreaterThan(0);
    for (const k of step!.kernels) expect(k.gbps, k.label).toBeGreaterThan(0);
    expect(step!.peakGpuBytes).toBeGreaterThan(0);
    // MFU is the Trainer's definition: the dashboard's own figure uses the same FLOPs per token and peak.
    expect(step!.mfu).toBeCloseTo((step!.tokensPerSec * step!.flopsPerToken) / 1e12, 12);
    expect(step!.trainerMfu).toBeCloseTo((step!.trainerTokensPerSec * step!.flopsPerToken) / 1e12, 12);
    // The same config with f16 activations: the same training to f16 precision, creating nothing once warm. (Its
    // memory is not compared here: at this size the pool's peak is the head, optimizer and free buffers, not
    // activations; model.test.ts measures the activations' share.)
    const half = rep.steps[1]!;
    expect([half.config, half.halfActivations, step!.halfActivations]).toEqual(['tiny-f16', true, false]);
    expect(Math.abs(half.finalLoss - step!.finalLoss)).toBeLessThan(1e-2);
    expect([half.bindGroupsCreatedPerStep, half.buffersCreatedPerStep]).toEqual([0, 0]);
    // LayerNorm and the GELU epilogue write the halves themselves (tiny's widths are even): no rounding pass and no
    // pass-through gradient, so exactly the f32 update's dispatches.
    expect(half.model.width % 2).toBe(0);
    expect(half.dispatchesPerStep).toBe(step!.dispatchesPerStep);
    // f16-mixed: the same training to f16 precision; here on the FP32 kernels (no tensor cores), MFU against the
    // same peak as fp32's (peakPrecision).
    const mixed = rep.steps[2]!;
    expect([mixed.config, mixed.precision, mixed.tensorCores, mixed.tensorCoreProductsPerStep]).toEqual([
      'tiny-mixed',
      'f16-mixed',
      null,
      0,
    ]);
    expect([step!.precision, half.precision]).toEqual(['fp32', 'fp32']);
    expect(Math.abs(mixed.finalLoss - step!.finalLoss)).toBeLessThan(1e-2);
    expect(mixed.mfuPeak).toBe(step!.mfuPeak);
    // More dispatches than f16 activations: the output gradients, and each attention output before its projection,
    // are rounded to halves.
    expect(mixed.dispatchesPerStep).toBeGreaterThan(half.dispatchesPerStep);
    // The host's own cost of recording an update, on Dawn's null backend: once warm, an update creates nothing.
    expect(rep.host.map((h) => `${h.config} ${h.optimizer}`)).toEqual([
      'gpt2-6L layout, narrow adamw',
      'gpt2-6L layout, narrow muon',
      'ref-8L adamw',
    ]);
    // ref-8L's update as tests/unit/dispatches.test.ts counts it (issue 23 asks ≤ 220 dispatches).
    expect(rep.host[2]!.dispatchesPerStep).toBe(219);
    for (const h of rep.host) {
      expect(h.dispatchesPerStep).toBeGreaterThan(100);
      expect(h.clearsPerStep).toBeLessThanOrEqual(3); // six blocks, and still only the once-per-update fills
      expect(h.usPerDispatch).toBeGreaterThan(0);
      expect(h.bindGroupsCreatedPerStep).toBe(0);
      expect(h.buffersCreatedPerStep).toBe(0);
    }
    const tfjs = rep.peers.tfjs!;
    expect(tfjs.version).toMatch(/tfjs-core 4\.22\.0, backend webgpu/);
    expect(tfjs.matmul.length).toBe(4);
    expect(tfjs.steps.length).toBe(1);
    expect(Math.abs(tfjs.steps[0]!.finalLoss - Math.log(512))).toBeLessThan(0.3);
    expect(tfjs.steps[0]!.oursOverTheirs).toBeGreaterThan(0);
  }, 600_000);

  it('leaves a report of the cases measured so far when stopped mid-run (a time limit on a GPU machine)', async () => {
    // dist/bench/bench.js was built by the first test.
    const out = join(mkdtempSync(join(tmpdir(), 'bench-')), 'partial.json');
    const child = spawn(
      process.execPath,
      ['dist/bench/bench.js', '--size', 'ci', '--only', 'matmul,attention', '--json', out],
      { cwd: ROOT, stdio: 'ignore' },
    );
    const exited = new Promise<void>((done) => child.on('exit', () => done()));
    const deadline = Date.now() + 300_000;
    while (!existsSync(out) && child.exitCode === null && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await exited;
    const rep = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
    expect(rep.complete).toBe(false);
    expect(rep.matmul.length).toBeGreaterThanOrEqual(1);
    expect(rep.matmul.length).toBeLessThan(4);
    expect(rep.matmul[0]!.ms).toBeGreaterThan(0);
    expect(rep.attention).toEqual([]);
  }, 320_000);

  it('rejects a bad option with a one-line message', () => {
    const r = spawnSync('npm', ['run', '--silent', 'bench', '--', '--size', 'huge'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--size must be ci or full, got huge/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const steps = spawnSync('npm', ['run', '--silent', 'bench', '--', '--steps', 'gpt2-6L,nope'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(steps.status).not.toBe(0);
    expect(steps.stderr).toMatch(
      /--steps: unknown step config "nope" \(tiny, tiny-f16, tiny-mixed, ref-8L, ref-8L-mixed, gpt2-6L, gpt2-6L-mixed/,
    );
  }, 240_000);

  it('lists the step configs for the PyTorch peer without a GPU (--list-steps), parameter counts included', () => {
    const r = spawnSync('npm', ['run', '--silent', 'bench', '--', '--list-steps'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent.json' },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const listed = JSON.parse(r.stdout) as ReturnType<typeof stepConfigsForPeers>;
    expect(listed).toEqual(stepConfigsForPeers('full'));
    // GPT-2 124M's well-known count (tied head), and MFU's FLOPs per token for it: 6·(N − positions) + 12·L·H·D·T.
    const gpt2 = listed.find((c) => c.name === 'gpt2-12L')!;
    expect(gpt2.params).toBe(124_439_808);
    expect(gpt2.flopsPerToken).toBe(6 * (124_439_808 - 1024 * 768) + 12 * 12 * 12 * 64 * 1024);
    for (const c of listed) expect(c.flopsPerToken, c.name).toBe(flopsPerToken(c.model, c.ctx));
  }, 120_000);
});

describe('kernel classes of a profile', () => {
  it('sums time, bytes and FLOPs per kernel name, knows FLOPs only where every dispatch stated them', () => {
    const classes = kernelClasses([
      { label: 'matmul', ns: 2e6, bytes: 4e6, flops: 4e9 },
      { label: 'layernorm', ns: 1e6, bytes: 3e6 },
      { label: 'matmul', ns: 2e6, bytes: 4e6, flops: 4e9 },
      { label: 'mixed', ns: 5e5, bytes: 1e6, flops: 1e9 },
      { label: 'mixed', ns: 5e5, bytes: 1e6 },
    ]);
    expect(classes.map((k) => k.label)).toEqual(['matmul', 'layernorm', 'mixed']);
    const [mm, ln, mixed] = classes;
    expect([mm!.ms, mm!.count, mm!.bytes, mm!.flops]).toEqual([4, 2, 8e6, 8e9]);
    expect(mm!.tflops).toBeCloseTo(2, 12); // 8e9 FLOPs in 4 ms
    expect(mm!.gbps).toBeCloseTo(2, 12); // 8e6 bytes in 4 ms
    expect([ln!.flops, ln!.tflops, ln!.gbps]).toEqual([null, null, 3]);
    expect([mixed!.flops, mixed!.tflops]).toEqual([null, null]);
  });
});

describe('the full-size step configs', () => {
  it('are valid models of their families, the Llama one of gpt2-6L size', () => {
    const configs = stepConfigs('full');
    for (const c of configs) expect(() => familyOf(c.model).validate(c.model), c.name).not.toThrow();
    const names = configs.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['gpt2-6L', 'gpt2-12L', 'gpt2-24L-1024', 'llama-6L']));
    const llama = configs.find((c) => c.name === 'llama-6L')!;
    expect([llama.model.family, llama.model.width, llama.model.heads, llama.model.headDim]).toEqual([
      'llama',
      768,
      12,
      64,
    ]);
    expect(familyOf(llama.model).kvHeads(llama.model)).toBe(4);
    // A block by hand: q and o 768², k and v 768×256 (4 heads of 64), gate/up/down 768×2048, two RMSNorm weights.
    const block = 768 * 768 * 2 + 768 * 256 * 2 + 3 * 768 * 2048 + 2 * 768;
    expect(paramCount(llama.model)).toBe(6 * block + 2 * 32000 * 768 + 768);
  });
});
