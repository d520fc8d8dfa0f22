// GPT-2 checkpoint mapping on synthetic files: prefixes, mask buffers, tied/untied heads, config.json vs shapes,
// n_head inference, and the errors for checkpoints that are not GPT-2.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointError, exportCheckpoint, inheritedConfig, openCheckpoint } from '../../src/model/checkpoint';
import { bytesSource } from '../../src/io/safetensors';
import { bf16Bytes, writeSafetensors } from '../../src/io/safetensors-write';
import { toHfConfig, gpt2Config } from '../../src/model/gpt2/config';
import { paramSpecs } from '../../src/model/params';

const CFG = gpt2Config({ vocabSize: 11, positions: 8, width: 128, layers: 2, heads: 4 });

function file(
  opts: {
    prefix?: string;
    masks?: boolean;
    lmHead?: 'tied' | 'untied';
    drop?: string;
    extra?: string;
    reshape?: [string, number[]];
  } = {},
) {
  const tensors = paramSpecs(CFG)
    .filter((p) => p.name !== opts.drop)
    .map((p) => {
      const shape = opts.reshape?.[0] === p.name ? opts.reshape[1] : p.shape;
      const n = shape.reduce((a, b) => a * b, 1);
      return {
        name: (opts.prefix ?? '') + p.name,
        shape,
        data: Float32Array.from({ length: n }, (_, i) => (i % 13) / 13),
      };
    });
  if (opts.masks)
    for (let l = 0; l < CFG.layers; l++)
      tensors.push({ name: `h.${l}.attn.bias`, shape: [1, 1, 8, 8], data: new Float32Array(64).fill(1) });
  if (opts.lmHead) {
    const wte = Float32Array.from({ length: CFG.vocabSize * CFG.width }, (_, i) => (i % 13) / 13);
    tensors.push({
      name: 'lm_head.weight',
      shape: [CFG.vocabSize, CFG.width],
      data: opts.lmHead === 'tied' ? wte : wte.map((v) => v + 1),
    });
  }
  if (opts.extra) tensors.push({ name: opts.extra, shape: [2], data: new Float32Array(2) });
  const parts = writeSafetensors(tensors);
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  return bytesSource(bytes);
}
const configJson = JSON.stringify(toHfConfig(CFG));

describe('GPT-2 checkpoint mapping', () => {
  it('reads the modern layout (transformer. prefix) and the hub layout (mask buffers) alike', async () => {
    const a = await openCheckpoint(file({ prefix: 'transformer.' }), { configJson });
    const b = await openCheckpoint(file({ masks: true, lmHead: 'tied' }), { configJson });
    expect(a.config).toEqual(CFG);
    expect(b.config).toEqual(CFG);
    expect(await a.read('h.1.mlp.c_fc.weight')).toEqual(await b.read('h.1.mlp.c_fc.weight'));
  });

  it('infers sizes without config.json and says it assumed n_head = n_embd/64', async () => {
    const c = await openCheckpoint(file());
    expect(c.config).toEqual({ ...CFG, heads: 2, headDim: 64 });
    expect(c.notes.join(' ')).toMatch(/n_head not given: assuming n_embd\/64 = 2/);
    expect((await openCheckpoint(file(), { heads: 4 })).config.heads).toBe(4);
  });

  it('uses lm_head.weight as wte when wte is absent', async () => {
    const c = await openCheckpoint(file({ drop: 'wte.weight', lmHead: 'tied' }), { configJson });
    expect(c.notes.join(' ')).toMatch(/wte\.weight taken from lm_head\.weight/);
  });

  const errors: [string, Parameters<typeof file>[0], string | undefined, RegExp][] = [
    ['untied head', { lmHead: 'untied' }, configJson, /lm_head\.weight differs from wte\.weight: .* untied head/],
    [
      'config.json disagrees',
      {},
      JSON.stringify({ ...toHfConfig(CFG), n_layer: 3 }),
      /config\.json disagrees with the tensors: n_layer is 3 in config\.json but 2 in the checkpoint/,
    ],
    [
      'a model type no family reads',
      {},
      JSON.stringify({ model_type: 'gemma' }),
      /describes a "gemma" model, which Inheritune Studio does not read \(it reads GPT-2 \(model_type "gpt2"\); Llama-family model \(model_type "llama", "mistral", "qwen2", "qwen3"\)\)/,
    ],
    [
      "another family's config",
      {},
      JSON.stringify({ model_type: 'llama' }),
      /config\.json describes a "llama" model, but the tensors are a GPT-2 checkpoint's/,
    ],
    ['config.json not JSON', {}, '{oops', /config\.json is not valid JSON/],
    ['missing block tensor', { drop: 'h.1.ln_2.bias' }, configJson, /lacks h\.1\.ln_2\.bias/],
    [
      'wrong shape',
      { reshape: ['h.0.attn.c_attn.weight', [384, 128]] },
      configJson,
      /h\.0\.attn\.c_attn\.weight has shape \[384, 128\], expected \[128, 384\]/,
    ],
    [
      'extra tensor',
      { extra: 'h.0.attn.rotary.inv_freq' },
      configJson,
      /tensors a GPT-2 does not: h\.0\.attn\.rotary\.inv_freq/,
    ],
  ];
  it.each(errors)('%s', async (_n, opts, cfg, message) => {
    const p = openCheckpoint(file(opts), { configJson: cfg });
    await expect(p).rejects.toBeInstanceOf(CheckpointError);
    await expect(p).rejects.toThrow(message);
  });

  it('says when config.json is at fault (the page then forgets it)', async () => {
    const fault = async (opts: Parameters<typeof file>[0], cfg: string | undefined) =>
      openCheckpoint(file(opts), { configJson: cfg }).then(
        () => null,
        (e: CheckpointError) => e.inConfig,
      );
    expect(await fault({}, JSON.stringify({ ...toHfConfig(CFG), n_layer: 3 }))).toBe(true);
    expect(await fault({}, JSON.stringify({ model_type: 'llama' }))).toBe(true);
    expect(await fault({}, '{oops')).toBe(true);
    expect(await fault({ drop: 'h.1.ln_2.bias' }, configJson)).toBe(false);
    expect(await fault({ lmHead: 'untied' }, configJson)).toBe(false);
  });

  it('a Llama-family checkpoint without its config.json is asked for it; an unknown layout is named', async () => {
    const parts = writeSafetensors([
      { name: 'model.embed_tokens.weight', shape: [4, 2], data: new Float32Array(8) },
      { name: 'model.layers.0.self_attn.q_proj.weight', shape: [2, 2], data: new Float32Array(4) },
    ]);
    const bytes = new Uint8Array(await new Blob(parts).arrayBuffer());
    await expect(openCheckpoint(bytesSource(bytes))).rejects.toThrow(
      /This is a Llama-family checkpoint \(model\.layers\.N\.self_attn\.q_proj\): give its config\.json too/,
    );
    const bert = writeSafetensors([
      { name: 'encoder.layer.0.attention.self.query.weight', shape: [2, 2], data: new Float32Array(4) },
    ]);
    await expect(openCheckpoint(bytesSource(new Uint8Array(await new Blob(bert).arrayBuffer())))).rejects.toThrow(
      /not a checkpoint Inheritune Studio reads \(GPT-2 .*Llama-family model .*\): it looks BERT-style.*found 1 tensors such as encoder/,
    );
  });

  it('checks the inherited block count', () => {
    expect(inheritedConfig(CFG, 1).layers).toBe(1);
    expect(() => inheritedConfig(CFG, 0)).toThrow(/from 1 to 2/);
    expect(() => inheritedConfig(CFG, 3)).toThrow(/from 1 to 2/);
  });
});

describe('export as BF16', () => {
  const FIX = join(__dirname, '../../../shared/fixtures');
  const open = async (dir: string) =>
    openCheckpoint(bytesSource(readFileSync(join(FIX, dir, 'model.safetensors'))), {
      configJson: readFileSync(join(FIX, dir, 'config.json'), 'utf8'),
    });

  it('rounds as PyTorch does: tiny-2L exported as BF16 equals the BF16 fixture PyTorch wrote, value for value', async () => {
    const f32 = await open('tiny-2L');
    const bf16 = await open('tiny-2L-bf16');
    const params = new Map<string, Float32Array>();
    for (const p of paramSpecs(f32.config)) params.set(p.name, await f32.read(p.name));
    const { safetensors, configJson } = exportCheckpoint(f32.config, params, { dtype: 'BF16' });
    expect(JSON.parse(configJson).torch_dtype).toBe('bfloat16');
    const bytes = new Uint8Array(await new Blob(safetensors).arrayBuffer());
    const back = await openCheckpoint(bytesSource(bytes), { configJson });
    let size = 0;
    for (const p of paramSpecs(f32.config)) {
      expect(back.file.tensors.get(p.name)!.dtype).toBe('BF16');
      expect(await back.read(p.name), p.name).toEqual(await bf16.read(p.name));
      size += p.size;
    }
    expect(bytes.byteLength).toBeLessThan(2 * size + 64 * 1024);
  });

  it('keeps NaN a NaN and rounds ties to even', () => {
    const h = bf16Bytes(Float32Array.of(Number.NaN, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -0));
    const u16 = new Uint16Array(h.buffer);
    expect(u16[0]! & 0x7fc0).toBe(0x7fc0);
    expect(u16[1]).toBe(0x3f80); // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: to even, 1
    expect(u16[2]).toBe(0x3f82); // 1 + 3·2^-8 halfway between 1 + 2^-7 and 1 + 2^-6: to even, 1 + 2^-6
    expect(u16[3]).toBe(0x8000);
  });
});
