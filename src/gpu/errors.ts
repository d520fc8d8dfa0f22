// Error types of the GPU layer. Every failure the user can see names what went wrong in words.

/** No WebGPU at all (no navigator.gpu, or no adapter). `hint` says what to try. */
export class WebGPUUnavailableError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(`${message} ${hint}`);
    this.name = 'WebGPUUnavailableError';
  }
}

/** A WGSL module failed to compile: message carries line, column and the offending source line. */
export class ShaderCompileError extends Error {
  constructor(
    readonly label: string,
    readonly messages: string[],
  ) {
    super(`WGSL compile error in ${label}:\n${messages.join('\n')}`);
    this.name = 'ShaderCompileError';
  }
}

/** The device was lost or raised an uncaptured error; the runtime refuses further work until re-acquired. */
export class GpuDeviceError extends Error {
  constructor(
    message: string,
    readonly kind: 'lost' | 'validation' | 'out-of-memory' | 'internal',
  ) {
    super(message);
    this.name = 'GpuDeviceError';
  }
}

/** Formats compilation messages as `file:line:col: type: message` plus the source line and a caret. */
export function formatCompilationMessages(
  source: string,
  messages: readonly GPUCompilationMessage[],
  mapLine: (line: number) => { file: string; line: number },
): string[] {
  const lines = source.split('\n');
  return messages.map((m) => {
    const src = m.lineNum > 0 ? (lines[m.lineNum - 1] ?? '') : '';
    const caret = m.linePos > 0 ? `${' '.repeat(m.linePos - 1)}^` : '';
    const at = mapLine(m.lineNum);
    return `${at.file}:${at.line}:${m.linePos}: ${m.type}: ${m.message}\n    ${src}\n    ${caret}`;
  });
}
