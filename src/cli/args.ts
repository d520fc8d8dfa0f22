// Command-line parsing for `inheritune`: `--flag value`, `--flag=value`, boolean flags; unknown flags are errors.

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface FlagSpec {
  /** 'string', 'int' and 'number' take a value; 'bool' does not. */
  type: 'string' | 'int' | 'number' | 'bool';
  required?: boolean;
}

export type Parsed = Record<string, string | number | boolean | undefined>;

export function parseFlags(argv: string[], spec: Record<string, FlagSpec>, command: string): Parsed {
  const out: Parsed = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`${command}: unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (!s)
      throw new UsageError(
        `${command}: unknown option --${name} (options: ${Object.keys(spec)
          .map((k) => `--${k}`)
          .join(', ')})`,
      );
    if (s.type === 'bool') {
      if (eq >= 0) throw new UsageError(`${command}: --${name} takes no value`);
      out[name] = true;
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith('--')))
      throw new UsageError(`${command}: --${name} needs a value`);
    if (s.type === 'int') {
      if (!/^-?\d+$/.test(value)) throw new UsageError(`${command}: --${name} must be an integer, got "${value}"`);
      out[name] = Number(value);
    } else if (s.type === 'number') {
      const v = Number(value);
      if (value.trim() === '' || !Number.isFinite(v))
        throw new UsageError(`${command}: --${name} must be a number, got "${value}"`);
      out[name] = v;
    } else out[name] = value;
  }
  for (const [name, s] of Object.entries(spec)) {
    if (s.required && out[name] === undefined) throw new UsageError(`${command}: --${name} is required`);
  }
  return out;
}
