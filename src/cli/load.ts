// Node-side loading shared by CLI commands: a checkpoint from a directory or file, a text corpus, progress on stderr.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { decodeText, splitTokens } from '../io/corpus';
import { fileSource, type FileSource } from '../io/node-source';
import type { SafetensorsFile } from '../io/safetensors';
import { INDEX_FILE, openSharded } from '../io/sharded';
import type { TokenizerFiles } from '../io/hf-tokenizer';
import type { Tokenizer } from '../io/tokenizer';
import { openCheckpoint, type OpenedCheckpoint } from '../model/checkpoint';
import { UsageError } from './args';

/** One status line on stderr, rewritten in place on a terminal. */
export function progress(label: string, done: number, total: number): void {
  const pct = total ? Math.floor((100 * done) / total) : 100;
  const line = `${label} ${pct}%`;
  if (process.stderr.isTTY) process.stderr.write(`\r${line}${done >= total ? '\n' : ''}`);
  else if (done >= total) process.stderr.write(`${line}\n`);
}

/**
 * A checkpoint from a folder (model.safetensors, or model.safetensors.index.json and its shards; config.json and the
 * tokenizer files beside them) or a .safetensors file. `src.close()` closes every file it opened.
 */
export async function loadCheckpoint(
  path: string,
): Promise<{ ckpt: OpenedCheckpoint; src: { close(): Promise<void> }; file: string }> {
  if (!existsSync(path)) throw new UsageError(`model not found: ${path}`);
  const isDir = statSync(path).isDirectory();
  const dir = isDir ? path : dirname(path);
  const index = join(dir, INDEX_FILE);
  const sharded = isDir && !existsSync(join(path, 'model.safetensors')) && existsSync(index);
  const file = sharded ? index : isDir ? join(path, 'model.safetensors') : path;
  if (!existsSync(file)) throw new UsageError(`no model.safetensors (or ${INDEX_FILE} with its shards) in ${path}`);
  const configPath = join(dir, 'config.json');
  const configJson = existsSync(configPath) ? readFileSync(configPath, 'utf8') : undefined;
  const tokenizer = tokenizerFiles(dir);
  const opened: FileSource[] = [];
  const src = { close: async () => void (await Promise.all(opened.map((s) => s.close()))) };
  try {
    let from: FileSource | SafetensorsFile;
    if (sharded)
      from = await openSharded(readFileSync(index, 'utf8'), async (shard) => {
        const p = join(dir, shard);
        if (!existsSync(p)) return null;
        const s = await fileSource(p);
        opened.push(s);
        return s;
      });
    else {
      from = await fileSource(file);
      opened.push(from);
    }
    return { ckpt: await openCheckpoint(from, { configJson, label: file, tokenizer }), src, file };
  } catch (e) {
    await src.close();
    throw e;
  }
}

/** A folder's tokenizer.json (+ tokenizer_config.json), if it has one. */
function tokenizerFiles(dir: string): TokenizerFiles | undefined {
  const json = join(dir, 'tokenizer.json');
  if (!existsSync(json)) return undefined;
  const config = join(dir, 'tokenizer_config.json');
  return { json: readFileSync(json, 'utf8'), ...(existsSync(config) ? { config: readFileSync(config, 'utf8') } : {}) };
}

/** A text corpus encoded with `tokenizer` (progress on stderr), split into train and validation tokens. */
export async function loadCorpus(
  path: string,
  tokenizer: Tokenizer,
): Promise<{ tokens: Uint32Array; train: Uint32Array; val: Uint32Array }> {
  if (!existsSync(path)) throw new UsageError(`data file not found: ${path}`);
  let text: string;
  try {
    text = decodeText(readFileSync(path), path);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const tokens = await tokenizer.encode(text, (d, t) => progress('tokenizing', d, t));
  return { tokens, ...splitTokens(tokens) };
}
