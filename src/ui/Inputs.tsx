// Getting a reference and a corpus in: the file inputs (a checkpoint's files, or its whole folder), a page-wide drop
// target that routes files by extension (.safetensors/.json → checkpoint, .txt → corpus; a dropped folder's files
// likewise), the bundled corpus, and the progress of the worker's long tasks.

import { useEffect, useState, type ChangeEvent } from 'react';
import { fmtSI } from './format';
import { canLoad } from '../worker/stages';
import { useApp } from './store';

const ext = (f: File) => f.name.toLowerCase().replace(/^.*(\.[^.]+)$/, '$1');

// The engine loads a checkpoint and a corpus side by side, so both go straight to it.
function loadCheckpoint(files: File[]): void {
  useApp.getState().send({ type: 'load-checkpoint', files });
}

function loadCorpus(file: File): void {
  useApp.getState().send({ type: 'load-corpus', file });
}

/** Sends what was dropped; returns the names it could not place, for a note. */
function route(files: File[]): string[] {
  const checkpoint = files.filter((f) => ext(f) === '.safetensors' || ext(f) === '.json');
  // A checkpoint folder's own text files (GPT-2's merges.txt, a licence) are not corpora.
  const corpus = files.filter(
    (f) => ext(f) === '.txt' && !/^(merges|vocab|license|readme|requirements)\.txt$/i.test(f.name),
  );
  const other = files.filter((f) => !checkpoint.includes(f) && !corpus.includes(f)).map((f) => f.name);
  if (checkpoint.length) loadCheckpoint(checkpoint);
  if (corpus[0]) loadCorpus(corpus[0]);
  // One corpus per run: the extra .txt files are named rather than silently dropped.
  return [...other, ...corpus.slice(1).map((f) => `${f.name} (one corpus at a time)`)];
}

/** A folder's files (its top level: a Hugging Face checkpoint folder is flat). */
async function folderFiles(dir: FileSystemDirectoryEntry): Promise<File[]> {
  const reader = dir.createReader();
  const entries: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) break;
    entries.push(...batch);
  }
  const files = entries.filter((e): e is FileSystemFileEntry => e.isFile);
  return Promise.all(files.map((f) => new Promise<File>((resolve, reject) => f.file(resolve, reject))));
}

/** What was dropped: files, and the files of dropped folders. */
async function droppedFiles(dt: DataTransfer): Promise<File[]> {
  const out: File[] = [];
  const dirs: Promise<File[]>[] = [];
  // Entries must be taken synchronously, before the event handler returns.
  for (const item of Array.from(dt.items)) {
    const entry = item.kind === 'file' ? item.webkitGetAsEntry?.() : null;
    if (entry?.isDirectory) dirs.push(folderFiles(entry as FileSystemDirectoryEntry));
    else {
      const f = item.getAsFile();
      if (f) out.push(f);
    }
  }
  for (const files of await Promise.all(dirs)) out.push(...files);
  return out;
}

/** The whole window accepts drops; an overlay says so while something is dragged over it. */
function usePageDrop(enabled: boolean, onIgnored: (names: string[]) => void): boolean {
  const [over, setOver] = useState(false);
  useEffect(() => {
    let depth = 0; // dragenter/leave fire for every child crossed
    const hasFiles = (e: DragEvent) => e.dataTransfer?.types.includes('Files') ?? false;
    const enter = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth++;
      setOver(true);
    };
    const leave = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) setOver(false);
    };
    const overFn = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault(); // without it the browser opens the file instead of dropping it here
      if (e.dataTransfer) e.dataTransfer.dropEffect = enabled ? 'copy' : 'none';
    };
    const drop = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      setOver(false);
      if (!enabled || !e.dataTransfer) return;
      const plain = Array.from(e.dataTransfer.files);
      droppedFiles(e.dataTransfer).then(
        (files) => onIgnored(route(files)),
        () => onIgnored(route(plain)),
      );
    };
    window.addEventListener('dragenter', enter);
    window.addEventListener('dragleave', leave);
    window.addEventListener('dragover', overFn);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragenter', enter);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('dragover', overFn);
      window.removeEventListener('drop', drop);
    };
  }, [enabled, onIgnored]);
  return over;
}

function ProgressList() {
  const progress = useApp((s) => s.progress);
  const tasks = Object.entries(progress);
  if (!tasks.length) return null;
  return (
    <ul className="progress-list" data-testid="progress">
      {tasks.map(([task, { done, total }]) => {
        const frac = total > 0 ? Math.min(1, done / total) : 0;
        return (
          <li key={task} data-task={task}>
            <div className="progress-head">
              <span>{task}</span>
              <span className="muted num">
                {fmtSI(done)} / {fmtSI(total)} · {(frac * 100).toFixed(0)}%
              </span>
            </div>
            <div className="bar">
              <div className="bar-fill" style={{ width: `${frac * 100}%` }} />
            </div>
          </li>
        );
      })}
    </ul>
  );
}

export function Inputs() {
  const stage = useApp((s) => s.stage);
  const ready = useApp((s) => s.gpu.status === 'ready');
  const send = useApp((s) => s.send);
  // Not while a run holds its inputs, nor during an analysis, a peak measurement or the demo's start (refused then).
  const task = useApp((s) => s.engine.task);
  const enabled = ready && canLoad(stage) && !task;
  const [ignored, setIgnored] = useState<string[]>([]);
  const over = usePageDrop(enabled, setIgnored);

  // A chosen file goes where its input says, whatever its name (a corpus may be "input" or "data.text").
  const take = (e: ChangeEvent<HTMLInputElement>): File[] => {
    const files = Array.from(e.target.files ?? []);
    e.target.value = ''; // so choosing the same file again still fires a change
    setIgnored([]);
    return files;
  };
  const pickCheckpoint = (e: ChangeEvent<HTMLInputElement>) => {
    const files = take(e);
    if (files.length) loadCheckpoint(files);
  };
  // A folder: its checkpoint files go to the engine, the rest is named (and a corpus in it is loaded too).
  const pickFolder = (e: ChangeEvent<HTMLInputElement>) => {
    const files = take(e);
    if (files.length) setIgnored(route(files));
  };
  const pickCorpus = (e: ChangeEvent<HTMLInputElement>) => {
    const [file] = take(e);
    if (file) loadCorpus(file);
  };

  return (
    <section className="card" data-testid="inputs">
      <h2>Reference and corpus</h2>
      <div className={`dropzone${over ? ' over' : ''}${enabled ? '' : ' disabled'}`} data-testid="dropzone">
        <p>
          Drop a checkpoint folder (or its <code>model.safetensors</code>, <code>config.json</code> and, for the Llama
          family, <code>tokenizer.json</code>) and a <code>.txt</code> corpus anywhere on the page, or choose:
        </p>
        <div className="file-row">
          <label className="button">
            Checkpoint…
            <input
              type="file"
              multiple
              accept=".safetensors,.json"
              data-testid="checkpoint-input"
              disabled={!enabled}
              onChange={pickCheckpoint}
            />
          </label>
          <label className="button">
            Folder…
            <input
              type="file"
              multiple
              // @ts-expect-error: not in React's attribute types, but every browser with WebGPU has it
              webkitdirectory=""
              data-testid="folder-input"
              disabled={!enabled}
              onChange={pickFolder}
            />
          </label>
          <label className="button">
            Corpus…
            <input
              type="file"
              accept=".txt,text/plain"
              data-testid="corpus-input"
              disabled={!enabled}
              onChange={pickCorpus}
            />
          </label>
          <button
            type="button"
            className="link"
            data-testid="bundled-corpus"
            disabled={!enabled}
            onClick={() => send({ type: 'load-corpus', file: null })}
          >
            use bundled Shakespeare
          </button>
        </div>
        {!enabled && ready && <p className="muted small">Loading is paused while a run holds the GPU.</p>}
      </div>
      {ignored.length > 0 && (
        <p className="note small">
          Ignored: {ignored.join(', ')} — expected .safetensors/.json (checkpoint) or .txt (corpus).{' '}
          <button type="button" className="link" onClick={() => setIgnored([])}>
            ok
          </button>
        </p>
      )}
      <ProgressList />
      {over && enabled && (
        <div className="drop-overlay" aria-hidden="true">
          <div>Drop to load: .safetensors/.json → checkpoint, .txt → corpus</div>
        </div>
      )}
    </section>
  );
}
