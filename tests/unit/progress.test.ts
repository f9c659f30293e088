import { describe, expect, it } from 'vitest';

import { ConfigError, type ProgressEvent } from '../../src/index.js';
import {
  chainCallbacks,
  effectiveProgressMode,
  FILE_BAR_THRESHOLD,
  PROGRESS_MODES,
  ProgressBar,
  validateProgressMode,
  type ProgressFile,
  type ProgressStream,
} from '../../src/progress.js';

function fakeStream(isTTY = false): ProgressStream & { writes: string[] } {
  const writes: string[] = [];
  return {
    writes,
    isTTY,
    write(text: string) {
      writes.push(text);
      return true;
    },
  };
}

const fileA: ProgressFile = {
  direction: 'download',
  key: 'dir/a.txt',
  path: '/cache/bucket/dir/a.txt',
  size: 10,
};
const fileB: ProgressFile = {
  direction: 'upload',
  key: 'dir/b.bin',
  path: '/data/dir/b.bin',
  size: 2048,
};

describe('validateProgressMode', () => {
  it.each(['progress', 'compact', 'disabled'])('accepts %s', (mode) => {
    expect(validateProgressMode(mode)).toBe(mode);
  });

  it('lists exactly the three modes', () => {
    expect(PROGRESS_MODES).toEqual(['progress', 'compact', 'disabled']);
  });

  it.each<unknown>(['bar', 'PROGRESS', '', 'none', undefined, null, 1, true, {}])(
    'rejects %j, listing the valid modes',
    (value) => {
      let error: unknown;
      try {
        validateProgressMode(value);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as ConfigError).message;
      expect(message).toContain('progressMode');
      for (const mode of PROGRESS_MODES) expect(message).toContain(`'${mode}'`);
      expect(message).toContain(`(${typeof value})`);
    },
  );

  it('names the option it was given', () => {
    expect(() => validateProgressMode('x', 'download.progressMode')).toThrow(
      /download\.progressMode/,
    );
  });
});

describe('effectiveProgressMode', () => {
  it('falls back from progress to compact when not a TTY', () => {
    expect(effectiveProgressMode('progress', false)).toBe('compact');
    expect(effectiveProgressMode('progress', true)).toBe('progress');
  });

  it('leaves compact and disabled alone', () => {
    for (const tty of [true, false]) {
      expect(effectiveProgressMode('compact', tty)).toBe('compact');
      expect(effectiveProgressMode('disabled', tty)).toBe('disabled');
    }
  });
});

describe('chainCallbacks', () => {
  it('calls each defined callback in order with the same event', () => {
    const order: string[] = [];
    const events: ProgressEvent[] = [];
    const chained = chainCallbacks(
      (e) => {
        order.push('first');
        events.push(e);
      },
      undefined,
      (e) => {
        order.push('second');
        events.push(e);
      },
    );
    const event: ProgressEvent = {
      direction: 'download',
      key: 'k',
      path: '/p',
      loaded: 1,
      total: 2,
      done: false,
      overall: { bytesLoaded: 1, bytesTotal: 2, filesDone: 0, filesTotal: 1 },
    };
    chained(event);
    expect(order).toEqual(['first', 'second']);
    expect(events).toEqual([event, event]);
    expect(events[0]).toBe(event);
  });

  it('is a no-op with no callbacks', () => {
    expect(() => {
      chainCallbacks()({
        direction: 'upload',
        key: 'k',
        path: '/p',
        loaded: 0,
        total: 0,
        done: true,
        overall: { bytesLoaded: 0, bytesTotal: 0, filesDone: 1, filesTotal: 1 },
      });
    }).not.toThrow();
  });
});

describe('ProgressBar', () => {
  it('falls back to compact on a stream that is not a TTY', () => {
    expect(new ProgressBar({ stream: fakeStream(false) }).mode).toBe('compact');
    expect(new ProgressBar({ mode: 'progress', stream: fakeStream(false) }).mode).toBe('compact');
  });

  it('keeps progress on a TTY', () => {
    expect(new ProgressBar({ mode: 'progress', stream: fakeStream(true) }).mode).toBe('progress');
  });

  it('rejects an invalid mode', () => {
    expect(() => new ProgressBar({ mode: 'loud' as 'progress', stream: fakeStream() })).toThrow(
      ConfigError,
    );
  });

  it('writes exactly one line per finished file in compact mode', () => {
    const stream = fakeStream();
    const bar = new ProgressBar({ mode: 'compact', stream });
    bar.expect(2, fileA.size + fileB.size);
    const a = bar.start(fileA);
    const b = bar.start(fileB);
    a.advance(4);
    b.advance(1024);
    expect(stream.writes).toEqual([]);
    a.advance(6);
    a.finish();
    expect(stream.writes).toHaveLength(1);
    b.advance(1024);
    b.finish();
    bar.close();
    expect(stream.writes).toHaveLength(2);

    const [lineA, lineB] = stream.writes;
    expect(lineA).toMatch(
      /^download: \/cache\/bucket\/dir\/a\.txt <- dir\/a\.txt \(10 B, [\d.]+ s\)\n$/,
    );
    expect(lineB).toMatch(/^upload: \/data\/dir\/b\.bin -> dir\/b\.bin \(2\.0 KiB, [\d.]+ s\)\n$/);
  });

  it('writes one line for a file that finishes with no bytes', () => {
    const stream = fakeStream();
    const bar = new ProgressBar({ mode: 'compact', stream });
    bar.expect(1, 0);
    bar.start({ ...fileA, size: 0 }).finish();
    bar.close();
    expect(stream.writes).toHaveLength(1);
    expect(stream.writes[0]).toContain('(0 B, ');
  });

  it('writes nothing in disabled mode, even on a TTY', () => {
    for (const isTTY of [false, true]) {
      const stream = fakeStream(isTTY);
      const events: ProgressEvent[] = [];
      const bar = new ProgressBar({
        mode: 'disabled',
        stream,
        onProgress: (e) => events.push(e),
      });
      bar.expect(2, fileA.size + fileB.size);
      const a = bar.start(fileA);
      a.advance(10);
      a.finish();
      const b = bar.start({ ...fileB, size: FILE_BAR_THRESHOLD });
      b.advance(FILE_BAR_THRESHOLD);
      b.finish();
      bar.close();
      expect(stream.writes).toEqual([]);
      expect(events).toHaveLength(4);
    }
  });

  it('sends precise events to onProgress', () => {
    const events: ProgressEvent[] = [];
    const bar = new ProgressBar({
      mode: 'disabled',
      stream: fakeStream(),
      onProgress: (e) => events.push(e),
    });
    bar.expect(2, 10 + 2048);
    const a = bar.start(fileA);
    const b = bar.start(fileB);
    a.advance(4);
    b.advance(1000);
    a.advance(0);
    a.advance(-3);
    a.advance(6);
    a.finish();
    b.advance(1048);
    b.finish();
    bar.close();

    expect(events).toEqual([
      {
        direction: 'download',
        key: 'dir/a.txt',
        path: '/cache/bucket/dir/a.txt',
        loaded: 4,
        total: 10,
        done: false,
        overall: { bytesLoaded: 4, bytesTotal: 2058, filesDone: 0, filesTotal: 2 },
      },
      {
        direction: 'upload',
        key: 'dir/b.bin',
        path: '/data/dir/b.bin',
        loaded: 1000,
        total: 2048,
        done: false,
        overall: { bytesLoaded: 1004, bytesTotal: 2058, filesDone: 0, filesTotal: 2 },
      },
      {
        direction: 'download',
        key: 'dir/a.txt',
        path: '/cache/bucket/dir/a.txt',
        loaded: 10,
        total: 10,
        done: false,
        overall: { bytesLoaded: 1010, bytesTotal: 2058, filesDone: 0, filesTotal: 2 },
      },
      {
        direction: 'download',
        key: 'dir/a.txt',
        path: '/cache/bucket/dir/a.txt',
        loaded: 10,
        total: 10,
        done: true,
        overall: { bytesLoaded: 1010, bytesTotal: 2058, filesDone: 1, filesTotal: 2 },
      },
      {
        direction: 'upload',
        key: 'dir/b.bin',
        path: '/data/dir/b.bin',
        loaded: 2048,
        total: 2048,
        done: false,
        overall: { bytesLoaded: 2058, bytesTotal: 2058, filesDone: 1, filesTotal: 2 },
      },
      {
        direction: 'upload',
        key: 'dir/b.bin',
        path: '/data/dir/b.bin',
        loaded: 2048,
        total: 2048,
        done: true,
        overall: { bytesLoaded: 2058, bytesTotal: 2058, filesDone: 2, filesTotal: 2 },
      },
    ]);
  });

  it('gives each event its own copy of the totals', () => {
    const events: ProgressEvent[] = [];
    const bar = new ProgressBar({
      mode: 'disabled',
      stream: fakeStream(),
      onProgress: (e) => events.push(e),
    });
    bar.expect(1, 10);
    const a = bar.start(fileA);
    a.advance(5);
    a.advance(5);
    expect(events[0]?.overall.bytesLoaded).toBe(5);
    expect(events[1]?.overall.bytesLoaded).toBe(10);
  });

  it('adds up several expect() calls', () => {
    const events: ProgressEvent[] = [];
    const bar = new ProgressBar({
      mode: 'compact',
      stream: fakeStream(),
      onProgress: (e) => events.push(e),
    });
    bar.expect(3, 300);
    bar.expect(1, 50);
    const f = bar.start({ ...fileA, size: 50 });
    f.advance(50);
    expect(events[0]?.overall).toEqual({
      bytesLoaded: 50,
      bytesTotal: 350,
      filesDone: 0,
      filesTotal: 4,
    });
  });

  it('sends events in compact mode too, alongside the lines', () => {
    const stream = fakeStream();
    const events: ProgressEvent[] = [];
    const bar = new ProgressBar({ stream, onProgress: (e) => events.push(e) });
    bar.expect(1, 10);
    const a = bar.start(fileA);
    a.advance(10);
    a.finish();
    bar.close();
    expect(events.map((e) => [e.loaded, e.done, e.overall.filesDone])).toEqual([
      [10, false, 0],
      [10, true, 1],
    ]);
    expect(stream.writes).toHaveLength(1);
  });

  it('can be closed more than once', () => {
    const bar = new ProgressBar({ mode: 'compact', stream: fakeStream() });
    bar.close();
    expect(() => {
      bar.close();
    }).not.toThrow();
  });
});
