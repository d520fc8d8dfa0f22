// Inheriting n blocks reads only what the small model needs: wte, wpe, blocks 0…n−1 and ln_f, never the other
// blocks' bytes (counted on the file handle); paper-code mode makes only the tensors it takes from init.

import { gpt2Config } from '../../src/model/gpt2/config';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { inheritedConfig, openCheckpoint } from '../../src/model/checkpoint';
import { fileSource } from '../../src/io/node-source';
import { Model } from '../../src/model/model';
import { paramSpecs } from '../../src/model/params';
import { gpt2Init } from '../../src/model/gpt2/params';
import { inheritSource } from '../../src/inheritune/inherit';
import { getGpu } from './gpu';

const DIR = join(__dirname, '../../../shared/fixtures/ref-8L');

it('inheriting 2 of 8 blocks reads only those blocks, the embeddings and ln_f', async () => {
  const src = await fileSource(join(DIR, 'model.safetensors'));
  try {
    const ckpt = await openCheckpoint(src, { configJson: readFileSync(join(DIR, 'config.json'), 'utf8') });
    const afterHeader = src.bytesRead;
    const config = inheritedConfig(ckpt.config, 2);
    const model = await Model.create(await getGpu(), config, (n) => ckpt.read(n));
    model.dispose();
    const needed = paramSpecs(config).reduce((n, p) => n + 4 * p.size, 0);
    const fileSize = statSync(join(DIR, 'model.safetensors')).size;
    console.log(
      `file ${fileSize} B; header read ${afterHeader} B; inherit(2) read ${src.bytesRead - afterHeader} B for ${needed} B of parameters`,
    );
    expect(src.bytesRead - afterHeader).toBe(needed);
    // Blocks 2…7 (and the mask buffers) stay on disk: the total read leaves at least their bytes unread.
    const skipped = paramSpecs(ckpt.config)
      .filter((p) => /^h\.([2-7])\./.test(p.name))
      .reduce((n, p) => n + 4 * p.size, 0);
    expect(fileSize - src.bytesRead).toBeGreaterThanOrEqual(skipped);
  } finally {
    await src.close();
  }
});

it('paper-code mode makes only wpe and ln_f from init, with the values a whole init gives them', async () => {
  const c = gpt2Config({ vocabSize: 300, positions: 32, width: 16, layers: 3, heads: 2 });
  const full = gpt2Init(inheritedConfig(c, 2), 9);
  const made: string[] = [];
  const { source } = inheritSource(
    c,
    async (n) => {
      made.push(n);
      return new Float32Array(0);
    },
    2,
    { paperCode: true, seed: 9 },
  );
  for (const name of ['wpe.weight', 'ln_f.weight', 'ln_f.bias'])
    expect(await source(name, []), name).toEqual(full.get(name));
  await source('h.1.mlp.c_proj.weight', []);
  expect(made).toEqual(['h.1.mlp.c_proj.weight']); // read from the reference
  // Any subset: each tensor as in the whole init, nothing else stored.
  const part = gpt2Init(c, 9, new Set(['wpe.weight', 'h.1.mlp.c_proj.weight', 'ln_f.bias']));
  const whole = gpt2Init(c, 9);
  expect([...part.keys()]).toEqual(['wpe.weight', 'h.1.mlp.c_proj.weight', 'ln_f.bias']);
  for (const [k, v] of part) expect(v, k).toEqual(whole.get(k));
});
