/**
 * One progress display for a whole batch of an `S3ObjectManager`.
 *
 * @packageDocumentation
 */
import type { ProgressBar, ProgressEvent } from '../progress.js';

/**
 * Feeds the progress events of every object of a batch into one {@link ProgressBar}, so
 * the batch has one overall bar and `onProgress` sees totals over the batch.
 */
export class BatchProgress {
  readonly #bar: ProgressBar;
  /** What each object said it would transfer, as far as the bar already expects it. */
  readonly #expected = new Map<string, { files: number; bytes: number }>();
  readonly #files = new Map<
    string,
    { loaded: number; advance: (n: number) => void; finish: () => void }
  >();

  constructor(bar: ProgressBar) {
    this.#bar = bar;
  }

  /** Takes an event of the object `id`. */
  event(id: string, e: ProgressEvent): void {
    const seen = this.#expected.get(id) ?? { files: 0, bytes: 0 };
    const { filesTotal, bytesTotal } = e.overall;
    if (filesTotal > seen.files || bytesTotal > seen.bytes) {
      this.#bar.expect(filesTotal - seen.files, bytesTotal - seen.bytes);
      this.#expected.set(id, { files: filesTotal, bytes: bytesTotal });
    }
    const key = `${id}\0${e.path}`;
    let file = this.#files.get(key);
    if (file === undefined) {
      const started = this.#bar.start({
        direction: e.direction,
        key: e.key,
        path: e.path,
        size: e.total,
      });
      file = { loaded: 0, ...started };
      this.#files.set(key, file);
    }
    if (e.loaded > file.loaded) {
      file.advance(e.loaded - file.loaded);
      file.loaded = e.loaded;
    }
    if (e.done) {
      file.finish();
      this.#files.delete(key);
    }
  }

  /** Closes the bar. */
  close(): void {
    this.#bar.close();
  }
}
