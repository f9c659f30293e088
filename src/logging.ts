/**
 * A small namespaced logger, silent until configured (by {@link configureLogging} or by
 * `S3LYNC_DEBUG` / `S3LYNC_LOG_LEVEL`). Every line passes through {@link redact}, so a
 * secret key registered with {@link registerSecret} never reaches a sink.
 *
 * @packageDocumentation
 */
import { parseFlag, parseLogLevel, type LogLevel } from './config.js';

export type { LogLevel } from './config.js';

/** A sink with the AWS SDK's logger shape; `console` fits. */
export interface Logger {
  /** Detail useful when debugging. */
  debug(message: string, ...args: unknown[]): void;
  /** Progress worth noting. */
  info(message: string, ...args: unknown[]): void;
  /** Something unexpected that s3lync recovered from. */
  warn(message: string, ...args: unknown[]): void;
  /** A failure. */
  error(message: string, ...args: unknown[]): void;
}

/** Options of {@link configureLogging}. */
export interface LoggingOptions {
  /** The lowest level written; Python names (`WARNING`, `CRITICAL`) work too. @default 'info' */
  level?: string;
  /** Where lines go. @default a stderr writer with time, level and logger name */
  logger?: Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

const stderrLogger: Logger = {
  debug: (m) => void process.stderr.write(`${m}\n`),
  info: (m) => void process.stderr.write(`${m}\n`),
  warn: (m) => void process.stderr.write(`${m}\n`),
  error: (m) => void process.stderr.write(`${m}\n`),
};

interface State {
  level: LogLevel;
  sink: Logger;
  formatted: boolean;
}

let state: State | undefined;
const secrets = new Set<string>();

/**
 * Sets the level and the sink of every s3lync logger.
 *
 * @throws {ConfigError} when `level` is not a level.
 */
export function configureLogging(options: LoggingOptions = {}): void {
  const level = options.level === undefined ? 'info' : parseLogLevel(options.level, 'level');
  state = { level, sink: options.logger ?? stderrLogger, formatted: options.logger === undefined };
}

/** Forgets {@link configureLogging}; the environment decides again on the next line. */
export function resetLogging(): void {
  state = undefined;
}

function current(): State {
  if (state !== undefined) return state;
  // An unusable variable must not make logging itself throw; readEnvConfig reports it.
  let level: LogLevel = 'silent';
  const lvl = process.env.S3LYNC_LOG_LEVEL;
  const dbg = process.env.S3LYNC_DEBUG;
  try {
    if (lvl) level = parseLogLevel(lvl, 'S3LYNC_LOG_LEVEL');
  } catch {
    level = 'silent';
  }
  try {
    if (dbg !== undefined && parseFlag(dbg, 'S3LYNC_DEBUG')) level = 'debug';
  } catch {
    // S3LYNC_DEBUG unusable: keep what S3LYNC_LOG_LEVEL said.
  }
  state = { level, sink: stderrLogger, formatted: true };
  return state;
}

/** Registers a secret (a secret access key) that must be masked in every log line. */
export function registerSecret(secret: string): void {
  if (secret.length >= 4) secrets.add(secret);
}

/** Replaces every registered secret in `text` with `***`. */
export function redact(text: string): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

function render(arg: unknown): string {
  if (arg instanceof Error) return `${arg.name}: ${arg.message}`;
  if (typeof arg === 'string') return arg;
  try {
    return JSON.stringify(arg);
  } catch {
    return String(arg);
  }
}

/**
 * A logger named `s3lync:<name>`, or the package's root logger `s3lync` without a name (as
 * the Python package's `get_logger()`). Lines below the configured level cost only a compare.
 *
 * @param name - the module or component, e.g. `core`. @default the root logger
 */
export function getLogger(name?: string): Logger {
  const full =
    name === undefined || name === ''
      ? 's3lync'
      : name.startsWith('s3lync')
        ? name
        : `s3lync:${name}`;
  const emit = (level: Exclude<LogLevel, 'silent'>, message: string, args: unknown[]): void => {
    const s = current();
    if (ORDER[level] < ORDER[s.level]) return;
    const body = redact([message, ...args.map(render)].join(' '));
    const line = s.formatted
      ? `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [${full}] ${body}`
      : `[${full}] ${body}`;
    s.sink[level](line);
  };
  return {
    debug: (m, ...a) => {
      emit('debug', m, a);
    },
    info: (m, ...a) => {
      emit('info', m, a);
    },
    warn: (m, ...a) => {
      emit('warn', m, a);
    },
    error: (m, ...a) => {
      emit('error', m, a);
    },
  };
}
