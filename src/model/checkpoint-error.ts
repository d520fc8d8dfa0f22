// The error every checkpoint reader throws for a file it cannot use: its message names the tensor or the field, and
// `inConfig` says whether config.json is at fault (the page then forgets that config.json rather than judging the
// next checkpoint dropped by it).

export class CheckpointError extends Error {
  readonly inConfig: boolean;
  constructor(message: string, opts: { inConfig?: boolean } = {}) {
    super(message);
    this.name = 'CheckpointError';
    this.inConfig = opts.inConfig ?? false;
  }
}
