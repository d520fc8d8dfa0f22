// What the pipeline tests share: the trace that must not change across a stop and resume (step and eval losses,
// round results, grows), and running a recipe whole and again stopped after its nth update then resumed.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import {
  type InherituneSettings,
  type PipelineContext,
  type PipelineEvent,
  type PipelineResult,
  runInheritune,
} from '../../src/inheritune/pipeline';
import { directoryStore } from '../../src/train/node-store';

export const trace = (ev: PipelineEvent[]) =>
  ev.flatMap((e) =>
    e.type === 'step'
      ? [`${e.phase}${e.round} step ${e.step} ${e.loss}`]
      : e.type === 'eval'
        ? [`${e.phase}${e.round} eval ${e.valLoss}`]
        : e.type === 'round-end'
          ? [`end ${JSON.stringify({ ...e.result, seconds: 0 })}`]
          : e.type === 'grow'
            ? [`grow ${e.from}→${e.to}`]
            : [],
  );

/**
 * Runs the recipe whole, then again stopped after its `stopAfter`th update (5th by default) and resumed from its
 * folder; checks the second gives the same trace and final parameters. Returns the whole run and its events.
 */
export async function wholeAndResumed(
  base: Omit<PipelineContext, 'store' | 'onEvent' | 'shouldStop'>,
  settings: InherituneSettings,
  stopAfter = 5,
): Promise<{ result: PipelineResult; events: PipelineEvent[] }> {
  const dirs = [mkdtempSync(join(tmpdir(), 'inh-a-')), mkdtempSync(join(tmpdir(), 'inh-b-'))];
  try {
    const events: PipelineEvent[] = [];
    const result = await runInheritune(
      { ...base, store: directoryStore(dirs[0]!), onEvent: (e) => events.push(e) },
      settings,
    );
    let updates = 0;
    const parts: PipelineEvent[] = [];
    const stopped = await runInheritune(
      {
        ...base,
        store: directoryStore(dirs[1]!),
        shouldStop: () => updates >= stopAfter,
        onEvent: (e) => {
          parts.push(e);
          if (e.type === 'step') updates++;
        },
      },
      settings,
    );
    expect(stopped.report.status).toBe('stopped');
    const resumed = await runInheritune(
      { ...base, store: directoryStore(dirs[1]!), onEvent: (e) => parts.push(e) },
      null,
      { resume: true },
    );
    expect(resumed.report.status).toBe('done');
    expect(trace(parts)).toEqual(trace(events));
    for (const [name, v] of result.final!.params) expect(resumed.final!.params.get(name), name).toEqual(v);
    return { result, events };
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
