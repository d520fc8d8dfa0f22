// The run form's and the demo form's checks: the settings schema's rules (src/settings/) against what the page knows
// of the reference, the corpus and the adapter, each field's message shown beside it and Start/Demo disabled while
// any is set. The worker and the CLI refuse the same settings with the same messages.

import { checkDemo, type DemoSettings, demoContext } from '../settings/demo';
import { checkRunSettings, issuesByField, type RunSettings, type SettingsContext } from '../settings/schema';
import type { AdapterInfo, CorpusInfo, ReferenceInfo } from '../worker/protocol';

export type Errors<T> = Partial<Record<keyof T, string>>;

/** The run form's problems against the loaded reference and corpus (each rule waits until its input is known). */
export function runErrors(
  s: RunSettings,
  reference: ReferenceInfo | null,
  corpus: CorpusInfo | null,
  adapter: AdapterInfo | null,
): Errors<RunSettings> {
  const context: SettingsContext = {
    ...(reference
      ? {
          reference: {
            layers: reference.layers,
            positions: reference.positions,
            widestActivation: reference.widestActivation,
          },
        }
      : {}),
    ...(corpus ? { corpus: { train: corpus.train, val: corpus.val } } : {}),
    limits: adapter,
  };
  return issuesByField(checkRunSettings(s, context)) as Errors<RunSettings>;
}

/** The demo's problems: its own fields, and the run form's against the reference the demo will train. */
export function demoErrors(d: DemoSettings, s: RunSettings, adapter: AdapterInfo | null): Record<string, string> {
  const run = issuesByField(checkRunSettings(s, { ...demoContext(d, s), limits: adapter }));
  const demo = issuesByField(checkDemo(d, adapter));
  return { ...run, ...Object.fromEntries(Object.entries(demo).map(([k, v]) => [`demo ${k}`, v])) } as Record<
    string,
    string
  >;
}

export const hasErrors = (e: object): boolean => Object.keys(e).length > 0;
