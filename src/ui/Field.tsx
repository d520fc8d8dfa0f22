// Form fields for the run and demo forms: a number field that keeps what the user typed (so "1e-" or an empty box
// survives while typing) and reports NaN/null upward for validation, a select and a checkbox, each with its label
// and, when invalid, the reason right under it.

import { useEffect, useId, useState, type ReactNode } from 'react';

function parse(text: string, nullable: boolean): number | null {
  const t = text.trim();
  if (t === '') return nullable ? null : NaN;
  return Number(t); // NaN for anything that is not a whole number literal ("12abc")
}

const show = (v: number | null): string => (v === null || Number.isNaN(v) ? '' : String(v));
const same = (a: number | null, b: number | null): boolean => a === b || (Number.isNaN(a) && Number.isNaN(b));

interface Common {
  label: ReactNode;
  testId: string;
  error?: string | undefined;
  disabled?: boolean;
  title?: string;
  wide?: boolean;
}

export function NumberField(
  p: Common & { value: number | null; onChange: (v: number | null) => void; nullable?: boolean; placeholder?: string },
) {
  const id = useId();
  const nullable = p.nullable ?? false;
  const [text, setText] = useState(() => show(p.value));
  // The store changed under us (analysis set n, a saved run's settings were restored): show the new value, unless
  // it is just what the current text already means.
  useEffect(() => {
    setText((t) => (same(parse(t, nullable), p.value) ? t : show(p.value)));
  }, [p.value, nullable]);
  return (
    <div className={`field${p.error ? ' invalid' : ''}${p.wide ? ' wide' : ''}`} title={p.title}>
      <label htmlFor={id}>{p.label}</label>
      <input
        id={id}
        type="text"
        inputMode="decimal"
        autoComplete="off"
        spellCheck={false}
        data-testid={p.testId}
        value={text}
        placeholder={p.placeholder}
        disabled={p.disabled}
        aria-invalid={p.error ? true : undefined}
        onChange={(e) => {
          setText(e.target.value);
          p.onChange(parse(e.target.value, nullable));
        }}
      />
      {p.error && <span className="field-error">{p.error}</span>}
    </div>
  );
}

export function SelectField<T extends string>(
  p: Common & { value: T; options: readonly (readonly [T, string])[]; onChange: (v: T) => void },
) {
  const id = useId();
  return (
    <div className={`field${p.wide ? ' wide' : ''}`} title={p.title}>
      <label htmlFor={id}>{p.label}</label>
      <select
        id={id}
        data-testid={p.testId}
        value={p.value}
        disabled={p.disabled}
        onChange={(e) => p.onChange(e.target.value as T)}
      >
        {p.options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </div>
  );
}

export function CheckField(p: Common & { checked: boolean; onChange: (v: boolean) => void }) {
  return (
    <label className="check" title={p.title}>
      <input
        type="checkbox"
        data-testid={p.testId}
        checked={p.checked}
        disabled={p.disabled}
        onChange={(e) => p.onChange(e.target.checked)}
      />
      {p.label}
    </label>
  );
}
