// The engine's errors carry a code, so the engine and the page act on what went wrong without reading the words.

import { GpuDeviceError } from '../gpu/errors';
import { SafetensorsError } from '../io/safetensors';
import { CheckpointError } from '../model/checkpoint-error';
import { SettingsError } from '../settings/schema';

export type ErrorCode =
  /** Another task holds the engine, or a load of the same kind is under way. */
  | 'busy'
  /** No GPU device. */
  | 'not-ready'
  /** The reference or the corpus is missing. */
  | 'no-input'
  /** A checkpoint or corpus that cannot be used. */
  | 'bad-file'
  /** config.json is at fault (the engine forgets it). */
  | 'bad-config'
  /** Settings the schema refuses. */
  | 'settings'
  /** The action is not allowed in the run's stage. */
  | 'not-allowed'
  /** Nothing to sample or export yet. */
  | 'no-model'
  /** The model was replaced (it grew, or its phase ended) while being read. */
  | 'model-replaced'
  /** The run folder (OPFS) failed or is missing. */
  | 'storage'
  /** The GPU device was lost or reported an error. */
  | 'gpu'
  /** The run diverged or failed. */
  | 'run'
  | 'internal';

export class EngineError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

/** The code of any error the engine may meet. */
export function errorCode(e: unknown): ErrorCode {
  if (e instanceof EngineError) return e.code;
  if (e instanceof SettingsError) return 'settings';
  if (e instanceof CheckpointError) return e.inConfig ? 'bad-config' : 'bad-file';
  if (e instanceof SafetensorsError) return 'bad-file';
  if (e instanceof GpuDeviceError) return 'gpu';
  return 'internal';
}
