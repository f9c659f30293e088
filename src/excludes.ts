/**
 * Exclude patterns: regular expressions matched against a path relative to the sync
 * root, with `/` separators. (The Python package matched absolute paths, so its default
 * `/\.` excluded everything under `~/.cache`.)
 *
 * @packageDocumentation
 */
import { ConfigError } from './exceptions.js';

/** The default excludes: hidden files and directories, `__pycache__`, `.egg-info`. */
export const DEFAULT_EXCLUDES: readonly string[] = [
  '(^|/)\\.',
  '(^|/)__pycache__(/|$)',
  '\\.egg-info(/|$)',
];

/** Tells whether a relative path (`a/b.txt`, no leading `/`) is excluded. */
export type ExcludeMatcher = (relativePath: string) => boolean;

/**
 * Checks an exclude pattern and returns its source.
 *
 * @throws {ConfigError} when the pattern is not a valid regular expression.
 */
export function patternSource(pattern: string | RegExp): string {
  if (pattern instanceof RegExp && pattern.flags !== '') {
    // Patterns are kept as sources; a flag such as `i` would be lost without a word.
    throw new ConfigError(
      `Exclude patterns cannot have flags, got ${String(pattern)}: write it without flags (e.g. [Ll]ogs for a case-insensitive match)`,
    );
  }
  const source = pattern instanceof RegExp ? pattern.source : pattern;
  if (typeof source !== 'string') {
    throw new ConfigError(
      `Expected an exclude pattern to be a string or RegExp, got ${JSON.stringify(pattern)} (${typeof pattern})`,
    );
  }
  try {
    new RegExp(source);
  } catch (cause) {
    throw new ConfigError(
      `Invalid exclude pattern ${JSON.stringify(source)}: not a regular expression`,
      { cause },
    );
  }
  return source;
}

/**
 * Compiles patterns into one matcher. A path is excluded when a pattern matches it, or
 * matches it with a leading `/` (so Python-style patterns such as `/\.venv` keep working).
 */
export function compileExcludes(patterns: readonly string[]): ExcludeMatcher {
  if (patterns.length === 0) return () => false;
  const regexps = patterns.map((p) => new RegExp(patternSource(p)));
  return (rel) => regexps.some((r) => r.test(rel) || r.test(`/${rel}`));
}
