// Sharded safetensors checkpoints (model.safetensors.index.json + model-0000i-of-0000n.safetensors, as transformers
// writes big models): one SafetensorsFile over the shards the index names. Only headers are read on opening; a
// tensor's bytes are read from its shard when asked for, so inheriting 4 of 32 layers reads those layers alone.

import {
  type ByteSource,
  openSafetensors,
  SafetensorsError,
  type SafetensorsFile,
  type TensorInfo,
} from './safetensors';

export const INDEX_FILE = 'model.safetensors.index.json';

/** The index's shard file names, in order of first use (so a caller can check they are all there before opening). */
export function shardNames(indexJson: string): string[] {
  return [...new Set(Object.values(weightMap(indexJson)))];
}

function weightMap(indexJson: string): Record<string, string> {
  let v: unknown;
  try {
    v = JSON.parse(indexJson);
  } catch (e) {
    throw new SafetensorsError(`${INDEX_FILE} is not valid JSON: ${(e as Error).message}`);
  }
  const map = (v as { weight_map?: unknown } | null)?.weight_map;
  if (!map || typeof map !== 'object' || Array.isArray(map))
    throw new SafetensorsError(`${INDEX_FILE} has no "weight_map" object (tensor name → shard file).`);
  for (const [name, shard] of Object.entries(map))
    if (typeof shard !== 'string' || !shard)
      throw new SafetensorsError(
        `${INDEX_FILE}: tensor ${name} is mapped to ${JSON.stringify(shard)}, not a file name.`,
      );
  return map as Record<string, string>;
}

/**
 * Opens the shards an index names through `open` (null: the folder lacks that file) and checks each tensor is in the
 * shard the index says. Tensors in order of the shards, then of each shard's header.
 */
export async function openSharded(
  indexJson: string,
  open: (shard: string) => Promise<ByteSource | null>,
): Promise<SafetensorsFile & { shards: string[] }> {
  const map = weightMap(indexJson);
  const shards = [...new Set(Object.values(map))].sort();
  const files = new Map<string, SafetensorsFile>();
  for (const shard of shards) {
    const src = await open(shard);
    if (!src)
      throw new SafetensorsError(
        `${INDEX_FILE} names the shard ${shard}, which is not among the files given: give every shard of the checkpoint.`,
      );
    files.set(shard, await openSafetensors(src, shard));
  }
  const tensors = new Map<string, TensorInfo>();
  const where = new Map<string, SafetensorsFile>();
  for (const shard of shards) {
    const f = files.get(shard)!;
    for (const [name, info] of f.tensors) {
      if (map[name] !== shard) continue; // a tensor the index does not give to this shard is not read
      tensors.set(name, info);
      where.set(name, f);
    }
  }
  for (const [name, shard] of Object.entries(map))
    if (!where.has(name))
      throw new SafetensorsError(`${INDEX_FILE} puts ${name} in ${shard}, which has no such tensor.`, name);
  return {
    metadata: {},
    tensors,
    dataStart: 0,
    shards,
    readF32: (name) => {
      const f = where.get(name);
      if (!f) throw new SafetensorsError(`no tensor ${name} in this checkpoint's shards`, name);
      return f.readF32(name);
    },
  };
}
