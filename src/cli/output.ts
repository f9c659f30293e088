/**
 * Where a command writes: its result and commentary to stdout (or one JSON object with
 * `--json`), errors to stderr, every line with the secrets redacted.
 *
 * @packageDocumentation
 */
import { redact } from '../logging.js';
import type { GlobalOptions } from './command.js';

/** Where a command writes: text and JSON to stdout, errors to stderr, secrets redacted. */
export class Output {
  readonly #global: GlobalOptions;

  constructor(global: GlobalOptions) {
    this.#global = global;
  }

  /** A line of the command's result (ls lines); always printed, unless `--json`. */
  data(line: string): void {
    if (!this.#global.json) process.stdout.write(`${redact(line)}\n`);
  }

  /** A line of commentary (summaries, plans); not with `--json` or `-q`. */
  info(line: string): void {
    if (!this.#global.json && !this.#global.quiet) process.stdout.write(`${redact(line)}\n`);
  }

  /** The `--json` object. */
  json(value: unknown): void {
    if (this.#global.json) process.stdout.write(`${redact(JSON.stringify(value))}\n`);
  }

  /** An error line, always. */
  error(line: string): void {
    process.stderr.write(`${redact(line)}\n`);
  }
}
