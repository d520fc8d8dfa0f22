// `npm run bench -- [--size ci|full] [--only matmul,attention,reduce,step,host,peers] [--steps NAME,…] [--json FILE]
// [--peak-tflops X] [--head-chunk-mib N] [--no-bounds-checks] [--no-subgroups] [--immediates] [--tensor-cores auto|on|off]`: runs the benchmark on this machine's WebGPU adapter (Dawn in Node) and prints a line per
// case; --json writes the report (rewritten after every case, so a run cut short leaves what it measured).
// `--list-steps` prints the step configs as JSON for the PyTorch peer (bench/peers/torch_peer.py) and touches no GPU.

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describeCapabilities } from '../src/gpu/capabilities';
import { acquireNodeDevice, type NodeDeviceOptions, tensorCoresMode } from '../src/gpu/node';
import { Gpu, type GpuOptions } from '../src/gpu/runtime';
import { isSoftwareAdapter } from '../src/gpu/device';
import { userPeak } from '../src/train/mfu';
import {
  SECTIONS,
  runBench,
  stepConfigs,
  stepConfigsForPeers,
  type BenchReport,
  type BenchSize,
  type Section,
} from './bench';

const USAGE = `usage: npm run bench -- [--size ci|full] [--only ${SECTIONS.join(',')}] [--steps NAME,…] [--json FILE] [--peak-tflops X] [--head-chunk-mib N] [--no-bounds-checks] [--no-subgroups] [--immediates] [--staged-tensor-cores]
       npm run bench -- --list-steps [--size ci|full]   (the step configs as JSON, for bench/peers/torch_peer.py; needs no GPU)`;

function parse(argv: string[]) {
  const out: {
    size?: BenchSize;
    only?: Set<Section>;
    steps?: Set<string>;
    listSteps: boolean;
    json?: string;
    peak?: number;
    boundsChecks: boolean;
    subgroups: boolean;
    immediates: boolean;
    stagedTensorCores?: boolean;
    headChunkMib?: number;
    tensorCores?: 'auto' | 'on' | 'off';
  } = { boundsChecks: true, subgroups: true, immediates: false, listSteps: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    if (flag === '--size') {
      const v = value();
      if (v !== 'ci' && v !== 'full') throw new Error(`--size must be ci or full, got ${v}`);
      out.size = v;
    } else if (flag === '--only') {
      const parts = value().split(',');
      for (const p of parts)
        if (!(SECTIONS as readonly string[]).includes(p))
          throw new Error(`--only: unknown section "${p}" (${SECTIONS.join(', ')})`);
      out.only = new Set(parts as Section[]);
    } else if (flag === '--steps') {
      const names = value().split(',');
      const known = new Set([...stepConfigs('ci'), ...stepConfigs('full')].map((c) => c.name));
      for (const n of names)
        if (!known.has(n)) throw new Error(`--steps: unknown step config "${n}" (${[...known].join(', ')})`);
      out.steps = new Set(names);
    } else if (flag === '--list-steps') out.listSteps = true;
    else if (flag === '--json') out.json = value();
    else if (flag === '--peak-tflops') out.peak = Number(value());
    else if (flag === '--head-chunk-mib') {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 1 || v > 4096)
        throw new Error(`--head-chunk-mib must be a whole number of MiB from 1 to 4096`);
      out.headChunkMib = v;
    } else if (flag === '--tensor-cores') out.tensorCores = tensorCoresMode(value());
    else if (flag === '--no-bounds-checks') out.boundsChecks = false;
    else if (flag === '--no-subgroups') out.subgroups = false;
    else if (flag === '--immediates') out.immediates = true;
    else if (flag === '--staged-tensor-cores') out.stagedTensorCores = true;
    else if (flag === '--help' || flag === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown option ${flag}\n${USAGE}`);
  }
  return out;
}

/** A second device, made on first use; destroy() ignores one that failed to start (already a report error). */
function lazyGpu(opts: NodeDeviceOptions, gpuOpts: GpuOptions) {
  let made: Promise<Gpu> | null = null;
  return {
    get: () => (made ??= acquireNodeDevice(opts).then((a) => new Gpu(a, gpuOpts))),
    destroy: async () =>
      void (await made?.then(
        (g) => g.destroy(),
        () => undefined,
      )),
  };
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  if (args.listSteps) {
    console.log(JSON.stringify(stepConfigsForPeers(args.size ?? 'full'), null, 2));
    return;
  }
  const gpuOpts: GpuOptions = {
    subgroups: args.subgroups,
    immediates: args.immediates,
    tensorCoreStaging: args.stagedTensorCores,
    headChunkBytes: args.headChunkMib !== undefined ? args.headChunkMib * 2 ** 20 : undefined,
  };
  const gpu = new Gpu(
    await acquireNodeDevice({ boundsChecks: args.boundsChecks, tensorCores: args.tensorCores }),
    gpuOpts,
  );
  const d = gpu.description;
  const software = isSoftwareAdapter(d);
  // A software adapter gets the smoke-test size unless asked otherwise: full size would take hours there.
  const size = args.size ?? (software ? 'ci' : 'full');
  console.error(
    `adapter: ${d.description || d.device} (${d.vendor} ${d.architecture}); features: ${d.features.join(', ')}; size ${size}`,
  );
  if (software) console.error('note: a software adapter: these figures say nothing about GPU speed.');
  console.error(
    `precision fp32; the device: ${describeCapabilities(gpu.capabilities)}; Dawn toggles: ${gpu.toggles.join(', ') || 'none'}`,
  );
  if (!args.boundsChecks) console.error('shaders compiled without bounds checks (--no-bounds-checks)');
  console.error(
    gpu.immediates
      ? 'kernel parameters as immediates'
      : `kernel parameters from a uniform ring${args.immediates ? ' (the device has no immediates)' : ''}`,
  );
  console.error(
    gpu.subgroupReduce
      ? 'reductions through subgroups'
      : `reductions without subgroups${args.subgroups ? ' (the device cannot)' : ' (--no-subgroups)'}`,
  );
  // With bounds checks on, each matmul case's fastest kernel is also timed on a device without them.
  const unchecked = lazyGpu({ boundsChecks: false, tensorCores: args.tensorCores }, gpuOpts);
  // Null devices by head chunk (a host config may set its own: StepConfig.headChunkBytes).
  const nullDevices = new Map<number | undefined, ReturnType<typeof lazyGpu>>();
  const nullDevice = (headChunkBytes?: number) => {
    let d = nullDevices.get(headChunkBytes);
    if (!d) {
      d = lazyGpu(
        { backend: 'null', boundsChecks: args.boundsChecks },
        { ...gpuOpts, headChunkBytes: headChunkBytes ?? gpuOpts.headChunkBytes },
      );
      nullDevices.set(headChunkBytes, d);
    }
    return d.get();
  };
  // With subgroups in use, the reducing kernels are also timed on a device without them.
  const noSubgroups = lazyGpu({ boundsChecks: args.boundsChecks, tensorCores: args.tensorCores }, { subgroups: false });
  // With --json the file is rewritten after every case (written beside it, then renamed over it): a run stopped by a
  // time limit leaves a report of what it measured, marked "complete": false.
  const save = (report: BenchReport) => {
    if (!args.json) return;
    mkdirSync(dirname(args.json), { recursive: true });
    writeFileSync(`${args.json}.part`, `${JSON.stringify(report, null, 2)}\n`);
    renameSync(`${args.json}.part`, args.json);
  };
  const report = await runBench(gpu, {
    size,
    only: args.only,
    steps: args.steps,
    log: (l) => console.error(l),
    peak: args.peak !== undefined ? userPeak(args.peak) : undefined,
    unchecked: args.boundsChecks ? unchecked.get : undefined,
    nullDevice,
    withoutSubgroups: gpu.subgroupReduce ? noSubgroups.get : undefined,
    progress: save,
  });
  if (args.json) {
    save(report);
    console.error(`wrote ${args.json}`);
  } else console.log(JSON.stringify(report, null, 2));
  await unchecked.destroy();
  for (const d of nullDevices.values()) await d.destroy();
  await noSubgroups.destroy();
  gpu.destroy();
  if (report.errors.length) process.exitCode = 1;
}

main().catch((e: Error) => {
  console.error(`bench: ${e.message}`);
  process.exit(1);
});
