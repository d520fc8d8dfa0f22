// `inheritune inherit`: the inherited model, untrained, as a Hugging Face checkpoint (to continue elsewhere).

import { mkdirSync } from 'node:fs';
import { inheritSource } from '../inheritune/inherit';
import { paramCount, paramSpecs } from '../model/params';
import { directoryStore } from '../train/node-store';
import { writeModel } from '../train/run-folder';
import { parseFlags, UsageError } from './args';
import { loadCheckpoint, progress } from './load';
import { exportDtype } from './settings';

export const INHERIT_ENTRY = `  inherit --ref <dir-or-file> --n N --out DIR [--paper-code] [--seed S] [--dtype f32|bf16]
      the inherited model, untrained, as a Hugging Face checkpoint (model.safetensors + config.json, and the
      reference's tokenizer files where it has them).`;

export async function inheritCommand(argv: string[]): Promise<number> {
  const f = parseFlags(
    argv,
    {
      ref: { type: 'string', required: true },
      n: { type: 'int', required: true },
      out: { type: 'string', required: true },
      'paper-code': { type: 'bool' },
      seed: { type: 'int' },
      dtype: { type: 'string' },
    },
    'inherit',
  );
  const dtype = exportDtype(f);
  const { ckpt, src } = await loadCheckpoint(f.ref as string);
  try {
    const n = f.n as number;
    const k = ckpt.config.layers;
    if (n < 1 || n > k) throw new UsageError(`--n must be from 1 to the reference's ${k} blocks, got ${n}`);
    const { config, source } = inheritSource(ckpt.config, (name) => ckpt.read(name), n, {
      paperCode: !!f['paper-code'],
      seed: (f.seed as number | undefined) ?? 1,
    });
    const params = new Map<string, Float32Array>();
    const names = paramSpecs(config).map((p) => p.name);
    for (const [i, name] of names.entries()) {
      params.set(name, await source(name, []));
      progress('reading', i + 1, names.length);
    }
    const out = f.out as string;
    mkdirSync(out, { recursive: true });
    await writeModel(directoryStore(out), config, params, ckpt.tokenizerFiles, dtype);
    process.stdout.write(
      `wrote ${out}/model.safetensors and config.json: ${n} of ${k} blocks, ${paramCount(config).toLocaleString('en-US')} params\n`,
    );
    return 0;
  } finally {
    await src.close();
  }
}
