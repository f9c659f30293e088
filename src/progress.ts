/**
 * Progress: typed events for callers, and one consumer of them that draws bars
 * (`progress`), prints a line per finished file (`compact`) or stays quiet (`disabled`).
 *
 * @packageDocumentation
 */
import { createRequire } from 'node:module';

import type * as CliProgress from 'cli-progress';
import type { MultiBar, SingleBar } from 'cli-progress';

import { ConfigError } from './exceptions.js';
import { formatBytes } from './utils.js';

/** How transfers are shown on the terminal. */
export type ProgressMode = 'progress' | 'compact' | 'disabled';

/** Every {@link ProgressMode}. */
export const PROGRESS_MODES: readonly ProgressMode[] = ['progress', 'compact', 'disabled'];

/**
 * cli-progress, loaded when the first bar is drawn: about 30 ms of start-up that a command
 * which draws none (a no-op sync, output to a pipe, the library) does not pay.
 */
function cliProgress(): typeof CliProgress {
  return createRequire(import.meta.url)('cli-progress') as typeof CliProgress;
}

/** Files at least this large get a bar of their own in `progress` mode. */
export const FILE_BAR_THRESHOLD = 8 * 1024 * 1024;

/**
 * Checks a progress mode.
 *
 * @throws {ConfigError} listing the valid modes.
 */
export function validateProgressMode(value: unknown, option = 'progressMode'): ProgressMode {
  if (typeof value === 'string' && (PROGRESS_MODES as readonly string[]).includes(value)) {
    return value as ProgressMode;
  }
  throw new ConfigError(
    `Expected \`${option}\` to be one of ${PROGRESS_MODES.map((m) => `'${m}'`).join(', ')}, got ${JSON.stringify(value)} (${typeof value})`,
  );
}

/** `progress` needs a terminal; elsewhere it becomes `compact`. */
export function effectiveProgressMode(mode: ProgressMode, isTTY: boolean): ProgressMode {
  return mode === 'progress' && !isTTY ? 'compact' : mode;
}

/** Totals over a whole operation. */
export interface OverallProgress {
  /** Bytes transferred so far. */
  bytesLoaded: number;
  /** Bytes to transfer in all. */
  bytesTotal: number;
  /** Files finished. */
  filesDone: number;
  /** Files to transfer in all. */
  filesTotal: number;
}

/** One progress event: a file advanced or finished. */
export interface ProgressEvent {
  /** Which way the bytes go. */
  direction: 'download' | 'upload';
  /** The S3 key. */
  key: string;
  /** The local path. */
  path: string;
  /** Bytes of this file transferred so far. */
  loaded: number;
  /** Size of this file. */
  total: number;
  /** Whether this file has finished. */
  done: boolean;
  /** Totals over the operation. */
  overall: OverallProgress;
}

/** Receives {@link ProgressEvent}s. */
export type ProgressCallback = (event: ProgressEvent) => void;

/** Calls each defined callback in turn. */
export function chainCallbacks(...callbacks: (ProgressCallback | undefined)[]): ProgressCallback {
  const defined = callbacks.filter((c): c is ProgressCallback => c !== undefined);
  return (event) => {
    for (const c of defined) c(event);
  };
}

/** A writable terminal-like stream. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** Options of {@link ProgressBar}. */
export interface ProgressBarOptions {
  /** The mode; `progress` falls back to `compact` when `stream` is not a TTY. @default 'progress' */
  mode?: ProgressMode;
  /** Where bars and lines go. @default process.stderr */
  stream?: ProgressStream;
  /** Also receives every event. @default none */
  onProgress?: ProgressCallback | undefined;
  /** Shown before the overall bar. @default 'total' */
  description?: string;
}

/** One file as the progress tracker sees it. */
export interface ProgressFile {
  direction: 'download' | 'upload';
  key: string;
  path: string;
  size: number;
}

interface FileState {
  file: ProgressFile;
  loaded: number;
  started: number;
  bar: SingleBar | undefined;
}

/**
 * Tracks the files of one operation, emits {@link ProgressEvent}s and renders them in the
 * chosen mode. Call {@link ProgressBar.close} when the operation ends, even on failure.
 */
export class ProgressBar {
  /** The mode actually used (after the TTY fallback). */
  readonly mode: ProgressMode;
  private readonly stream: ProgressStream;
  private readonly onProgress: ProgressCallback | undefined;
  private readonly overall: OverallProgress = {
    bytesLoaded: 0,
    bytesTotal: 0,
    filesDone: 0,
    filesTotal: 0,
  };
  private multi: MultiBar | undefined;
  private totalBar: SingleBar | undefined;
  private readonly description: string;

  constructor(options: ProgressBarOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.mode = effectiveProgressMode(
      validateProgressMode(options.mode ?? 'progress'),
      this.stream.isTTY === true,
    );
    this.onProgress = options.onProgress;
    this.description = options.description ?? 'total';
  }

  /** Adds files to the expected totals (a plan's worth, or one file). */
  expect(files: number, bytes: number): void {
    this.overall.filesTotal += files;
    this.overall.bytesTotal += bytes;
    this.totalBar?.setTotal(this.overall.bytesTotal);
    this.totalBar?.update(this.overall.bytesLoaded, this.totalPayload());
  }

  /** Starts a file; returns the callback that reports its bytes. */
  start(file: ProgressFile): { advance: (bytes: number) => void; finish: () => void } {
    const state: FileState = { file, loaded: 0, started: Date.now(), bar: undefined };
    if (this.mode === 'progress') {
      this.ensureBars();
      if (file.size >= FILE_BAR_THRESHOLD) {
        state.bar = this.multi?.create(file.size, 0, sizes(shortName(file.path), 0, file.size));
      }
    }
    return {
      advance: (bytes) => {
        this.advance(state, bytes);
      },
      finish: () => {
        this.finish(state);
      },
    };
  }

  private ensureBars(): void {
    if (this.multi !== undefined) return;
    const { MultiBar, Presets } = cliProgress();
    this.multi = new MultiBar(
      {
        stream: this.stream as NodeJS.WritableStream,
        format: '{name} [{bar}] {percentage}% {done}/{size} ETA {eta_formatted}',
        barsize: 16,
        hideCursor: true,
        clearOnComplete: false,
        autopadding: true,
      },
      Presets.shades_classic,
    );
    this.totalBar = this.multi.create(
      this.overall.bytesTotal,
      this.overall.bytesLoaded,
      sizes(shortName(this.description), this.overall.bytesLoaded, this.overall.bytesTotal),
    );
  }

  private advance(state: FileState, bytes: number): void {
    if (bytes <= 0) return;
    state.loaded += bytes;
    this.overall.bytesLoaded += bytes;
    state.bar?.update(state.loaded, { done: formatBytes(state.loaded) });
    this.totalBar?.update(this.overall.bytesLoaded, this.totalPayload());
    this.emit(state, false);
  }

  private finish(state: FileState): void {
    this.overall.filesDone += 1;
    if (state.bar !== undefined) {
      state.bar.update(state.file.size);
      this.multi?.remove(state.bar);
    }
    this.totalBar?.update(this.overall.bytesLoaded, this.totalPayload());
    if (this.mode === 'compact') {
      const secs = ((Date.now() - state.started) / 1000).toFixed(2);
      const arrow = state.file.direction === 'download' ? '<-' : '->';
      this.stream.write(
        `${state.file.direction}: ${state.file.path} ${arrow} ${state.file.key} (${formatBytes(state.loaded)}, ${secs} s)\n`,
      );
    }
    this.emit(state, true);
  }

  private emit(state: FileState, done: boolean): void {
    this.onProgress?.({
      direction: state.file.direction,
      key: state.file.key,
      path: state.file.path,
      loaded: state.loaded,
      total: state.file.size,
      done,
      overall: { ...this.overall },
    });
  }

  private totalPayload(): { done: string; size: string } {
    return {
      done: formatBytes(this.overall.bytesLoaded),
      size: formatBytes(this.overall.bytesTotal),
    };
  }

  /** Stops drawing. Safe to call more than once. */
  close(): void {
    this.multi?.stop();
    this.multi = undefined;
    this.totalBar = undefined;
  }
}

/** Bar labels have one width, so the bars line up and fit an 80-column terminal. */
const LABEL_WIDTH = 22;

function shortName(p: string): string {
  return p.length <= LABEL_WIDTH ? p.padEnd(LABEL_WIDTH) : `…${p.slice(-(LABEL_WIDTH - 1))}`;
}

function sizes(
  name: string,
  done: number,
  size: number,
): { name: string; done: string; size: string } {
  return { name, done: formatBytes(done), size: formatBytes(size) };
}
