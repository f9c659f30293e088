/**
 * The bytes one attempt of a transfer reported, so a failed attempt can take them back and
 * its retry does not count them twice.
 *
 * @packageDocumentation
 */

/** Reports bytes through `onBytes` and remembers how many, to take them back on failure. */
export class AttemptProgress {
  #reported = 0;

  /** @param onBytes - the caller's progress callback. @default none */
  constructor(private readonly onBytes: ((bytes: number) => void) | undefined) {}

  /** Reports `bytes` that moved. */
  add(bytes: number): void {
    this.#reported += bytes;
    this.onBytes?.(bytes);
  }

  /** Takes back everything this attempt reported. */
  rollback(): void {
    this.onBytes?.(-this.#reported);
  }
}
