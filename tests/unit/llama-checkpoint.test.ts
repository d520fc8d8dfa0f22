// Llama-family checkpoints on the host (no GPU): config.json refusals that name what is not supported; sharded
// checkpoints read lazily (inheriting 2 of 8 layers reads only those tensors' bytes, from Node files and from File
// slices as the page gives them); bad shards and indexes; export to transformers' layout and back.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileSource } from '../../src/io/node-source';
import { blobSource, type ByteSource, bytesSource } from '../../src/io/safetensors';
import { writeSafetensors } from '../../src/io/safetensors-write';
import { INDEX_FILE, openSharded } from '../../src/io/sharded';
import { inheritSource } from '../../src/inheritune/inherit';
import { CheckpointError, exportCheckpoint, inheritedConfig, openCheckpoint } from '../../src/model/checkpoint';
import { type LlamaConfig, llamaFromHf } from '../../src/model/llama';
import { llamaToHf } from '../../src/model/llama/config';
import { llamaInit, llamaParams } from '../../src/model/llama/params';

const HF = {
  model_type: 'llama',
  architectures: ['LlamaForCausalLM'],
  vocab_size: 50,
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 8,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: false,
  bos_token_id: 1,
  eos_token_id: 2,
};
const config = llamaFromHf(HF);
const params = llamaInit(config, 3);
const specs = llamaParams(config);

const concat = async (parts: Uint8Array[]) => new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer());

/** Two shards: the embedding and layers 0–3, then layers 4–7, the norm and lm_head; and their index. */
async function shards(): Promise<{ files: Map<string, Uint8Array>; index: string }> {
  const first = specs.filter((p) => (p.block === null ? p.role === 'embedding' : p.block < 4));
  const second = specs.filter((p) => !first.includes(p));
  const files = new Map<string, Uint8Array>();
  const weightMap: Record<string, string> = {};
  for (const [i, list] of [first, second].entries()) {
    const name = `model-0000${i + 1}-of-00002.safetensors`;
    files.set(
      name,
      await concat(
        writeSafetensors(
          list.map((p) => ({ name: p.name, shape: p.shape, data: params.get(p.name)! })),
          { format: 'pt' },
        ),
      ),
    );
    for (const p of list) weightMap[p.name] = name;
  }
  return { files, index: JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }) };
}

/** A source that counts the bytes read at or past `from` (the data section: headers are read once when opening). */
function counted(src: ByteSource, tally: { bytes: number }): ByteSource {
  return {
    size: src.size,
    read: async (offset, length) => {
      tally.bytes += length;
      return src.read(offset, length);
    },
  };
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('sharded checkpoints are read lazily', () => {
  const wanted = (n: number) =>
    specs.filter((p) => p.block === null || p.block < n).reduce((s, p) => s + p.size * 4, 0);

  for (const where of ['Node files', 'File slices'] as const) {
    it(`inheriting 2 of 8 layers reads only their tensors' bytes (${where})`, async () => {
      const { files, index } = await shards();
      const dir = mkdtempSync(join(tmpdir(), 'shards-'));
      dirs.push(dir);
      const headers = { bytes: 0 };
      const tally = { bytes: 0 };
      const opened: { close(): Promise<void> }[] = [];
      const file = await openSharded(index, async (name) => {
        const bytes = files.get(name)!;
        let src: ByteSource;
        if (where === 'Node files') {
          writeFileSync(join(dir, name), bytes);
          const f = await fileSource(join(dir, name));
          opened.push(f);
          src = f;
        } else src = blobSource(new File([bytes as BlobPart], name));
        return counted(src, headers);
      });
      const headerBytes = headers.bytes;
      // From here on every byte read is tensor data.
      const ckpt = await openCheckpoint(file, { configJson: JSON.stringify(HF) });
      expect(headers.bytes).toBe(headerBytes);
      const small = inheritedConfig(ckpt.config as LlamaConfig, 2);
      const { source } = inheritSource(ckpt.config, (n) => ckpt.read(n), 2, { paperCode: false, seed: 1 });
      const before = headers.bytes;
      for (const p of llamaParams(small)) {
        const data = await source(p.name, p.shape);
        expect(Array.from(data.slice(0, 4))).toEqual(Array.from(params.get(p.name)!.slice(0, 4)));
      }
      tally.bytes = headers.bytes - before;
      expect(tally.bytes).toBe(wanted(2));
      expect(tally.bytes).toBeLessThan(wanted(8) / 2);
      for (const o of opened) await o.close();
    });
  }

  it('names a missing shard and a tensor the index puts where it is not', async () => {
    const { files, index } = await shards();
    const open = async (name: string) => (files.has(name) ? bytesSource(files.get(name)!) : null);
    await expect(openSharded(index, async (n) => (n.startsWith('model-00002') ? null : open(n)))).rejects.toThrow(
      /names the shard model-00002-of-00002\.safetensors, which is not among the files given/,
    );
    const moved = JSON.parse(index);
    moved.weight_map['model.norm.weight'] = 'model-00001-of-00002.safetensors';
    await expect(openSharded(JSON.stringify(moved), open)).rejects.toThrow(
      new RegExp(
        `${INDEX_FILE.replace(/\./g, '\\.')} puts model\\.norm\\.weight in model-00001-of-00002\\.safetensors, which has no such tensor`,
      ),
    );
    await expect(openSharded('{"weight_map": 3}', open)).rejects.toThrow(/has no "weight_map" object/);
    await expect(openSharded('{', open)).rejects.toThrow(/is not valid JSON/);
  });
});

describe('config.json of the Llama family', () => {
  const refuse = (patch: Record<string, unknown>, message: RegExp) =>
    expect(() => llamaFromHf({ ...HF, ...patch })).toThrow(message);

  it('refuses what it does not support, naming it and what is supported', () => {
    refuse(
      { architectures: ['GemmaForCausalLM'] },
      /architecture "GemmaForCausalLM" is not supported; supported: LlamaForCausalLM .*MistralForCausalLM .*Qwen2ForCausalLM .*Qwen3ForCausalLM/,
    );
    refuse(
      { rope_scaling: { rope_type: 'yarn', factor: 4 } },
      /rope scaling "yarn" is not supported \(only none and Llama 3's "llama3"\)/,
    );
    refuse(
      { num_local_experts: 8 },
      /"num_local_experts" describes a mixture-of-experts model, which is not supported/,
    );
    refuse({ hidden_act: 'gelu' }, /hidden_act "gelu" is not supported/);
    refuse({ num_key_value_heads: 3 }, /num_key_value_heads 3 does not divide num_attention_heads 4/);
    refuse({ hidden_size: 'x' }, /"hidden_size" must be a positive integer, got "x"/);
    refuse({ head_dim: 5 }, /head_dim 5 must be even/);
    refuse({ vocab_size: 300000 }, /vocab_size 300000 exceeds the supported 262,144/);
  });

  it('reads rope settings old and new, and a sliding window caps the context', () => {
    expect(
      llamaFromHf({ ...HF, rope_theta: undefined, rope_parameters: { rope_theta: 1e6, rope_type: 'default' } })
        .ropeTheta,
    ).toBe(1e6);
    const m = llamaFromHf({ ...HF, model_type: 'mistral', architectures: ['MistralForCausalLM'], sliding_window: 32 });
    expect(m.positions).toBe(32);
    expect(m.hfMaxPositions).toBe(64);
    expect(llamaToHf(m).max_position_embeddings).toBe(64);
    // Per-layer fields follow the layers kept (transformers checks layer_types against num_hidden_layers).
    const q = llamaFromHf({
      ...HF,
      model_type: 'qwen3',
      architectures: ['Qwen3ForCausalLM'],
      layer_types: Array(8).fill('full_attention'),
      max_window_layers: 8,
    });
    const small = llamaToHf({ ...q, layers: 3 });
    expect(small.layer_types).toEqual(['full_attention', 'full_attention', 'full_attention']);
    expect(small.max_window_layers).toBe(3);
    // Qwen2's window applies only with use_sliding_window.
    expect(llamaFromHf({ ...HF, model_type: 'qwen2', architectures: undefined, sliding_window: 32 }).positions).toBe(
      64,
    );
  });

  it("Llama 3's rope scaling: high frequencies kept, low ones divided by the factor, the band between smoothed", async () => {
    const { llamaInverseFrequencies } = await import('../../src/model/llama/config');
    const c = llamaFromHf({
      ...HF,
      rope_scaling: {
        rope_type: 'llama3',
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 64,
      },
    });
    // Wavelengths 2π/f: 6.3 (< 64/4 = 16: kept), 100 (between 16 and 64: smoothed), 628 (> 64: divided by 8).
    const f = llamaInverseFrequencies(c, Float32Array.of(1, (2 * Math.PI) / 100, 0.01));
    expect(f[0]).toBeCloseTo(1, 6);
    const smooth = (64 / 100 - 1) / (4 - 1); // negative: the band's low edge
    const mid = (2 * Math.PI) / 100;
    expect(f[1]).toBeCloseTo(mid / 8, 6); // wavelength 100 > 64: low band
    expect(f[2]).toBeCloseTo(0.01 / 8, 8);
    expect(smooth).toBeLessThan(0);
    const g = llamaInverseFrequencies(c, Float32Array.of((2 * Math.PI) / 32));
    const s = (64 / 32 - 1) / 3;
    expect(g[0]).toBeCloseTo((1 - s) * ((2 * Math.PI) / 32 / 8) + s * ((2 * Math.PI) / 32), 6);
  });
});

describe('checkpoint errors and export', () => {
  const single = async (tensors = specs, cfg: Record<string, unknown> = HF) => {
    const bytes = await concat(
      writeSafetensors(
        tensors.map((p) => ({ name: p.name, shape: p.shape, data: params.get(p.name) ?? new Float32Array(p.size) })),
      ),
    );
    return openCheckpoint(bytesSource(bytes), { configJson: JSON.stringify(cfg) });
  };

  it('names a missing tensor, a shape config.json disagrees with, and an extra tensor', async () => {
    await expect(single(specs.filter((p) => p.name !== 'model.layers.3.mlp.up_proj.weight'))).rejects.toThrow(
      /lacks model\.layers\.3\.mlp\.up_proj\.weight, which config\.json's LlamaForCausalLM \(8 layers\) needs/,
    );
    await expect(single(specs, { ...HF, intermediate_size: 32 })).rejects.toThrow(
      /model\.layers\.0\.mlp\.gate_proj\.weight has shape \[24, 16\] but config\.json implies \[32, 16\]/,
    );
    await expect(single(specs, { ...HF, num_hidden_layers: 6 })).rejects.toThrow(
      /tensors config\.json's LlamaForCausalLM does not: model\.layers\.6\./,
    );
    await expect(single(specs, { ...HF, model_type: 'qwen2', architectures: ['Qwen2ForCausalLM'] })).rejects.toThrow(
      /lacks model\.layers\.0\.self_attn\.q_proj\.bias/,
    );
    const err = await single(specs, { ...HF, rope_scaling: { type: 'dynamic' } }).catch((e) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as CheckpointError).inConfig).toBe(true);
  });

  it("exports transformers' layout: the new layer count, every tensor name and shape, and reopens equal", async () => {
    const ckpt = await single();
    const small = inheritedConfig(ckpt.config as LlamaConfig, 3);
    const kept = new Map(llamaParams(small).map((p) => [p.name, params.get(p.name)!]));
    const { safetensors, configJson } = exportCheckpoint(small, kept);
    const hf = JSON.parse(configJson);
    expect(hf.num_hidden_layers).toBe(3);
    expect(hf.architectures).toEqual(['LlamaForCausalLM']);
    expect(hf.num_key_value_heads).toBe(2);
    expect(hf.bos_token_id).toBe(1); // fields the reference had are kept
    const back = await openCheckpoint(bytesSource(await concat(safetensors)), { configJson });
    expect([...back.file.tensors.keys()]).toEqual(llamaParams(small).map((p) => p.name));
    for (const p of llamaParams(small)) {
      expect(back.file.tensors.get(p.name)!.shape).toEqual(p.shape);
      expect(await back.read(p.name)).toEqual(kept.get(p.name));
    }
    expect(back.config).toEqual(small);
  });
});
