/**
 * What a sync leaves out, matched against a path relative to the sync root with `/`
 * separators: exclude patterns (regular expressions, which also prune directories), then
 * glob filters with `aws s3` semantics (on files). (The Python package matched absolute
 * paths, so its default `/\.` excluded everything under `~/.cache`.)
 *
 * @packageDocumentation
 */
import picomatch from 'picomatch';

import { ConfigError } from './exceptions.js';

/** The default excludes: hidden files and directories, `__pycache__`, `.egg-info`. */
export const DEFAULT_EXCLUDES: readonly string[] = [
  '(^|/)\\.',
  '(^|/)__pycache__(/|$)',
  '\\.egg-info(/|$)',
];

/**
 * Tells whether a relative path (`a/b.txt`, no leading `/`) is excluded; `directory`
 * says it is a directory (glob filters, which decide files, do not prune it).
 */
export type ExcludeMatcher = (relativePath: string, directory?: boolean) => boolean;

/** A glob filter: `{ exclude: '*.tmp' }` or `{ include: 'keep.tmp' }`. */
export type PathFilter = { readonly exclude: string } | { readonly include: string };

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

/**
 * Checks glob filters: each an object with one of `exclude` or `include`, a non-empty glob.
 *
 * @throws {ConfigError} naming the filter.
 */
export function checkFilters(filters: unknown, name: string): readonly PathFilter[] {
  if (!Array.isArray(filters)) {
    throw new ConfigError(
      `Expected \`${name}\` to be an array of { exclude: GLOB } or { include: GLOB }, got ${JSON.stringify(filters)}`,
    );
  }
  for (const f of filters as unknown[]) {
    const keys = typeof f === 'object' && f !== null ? Object.keys(f) : [];
    const glob = keys.length === 1 ? (f as Record<string, unknown>)[keys[0] ?? ''] : undefined;
    if (
      (keys[0] !== 'exclude' && keys[0] !== 'include') ||
      typeof glob !== 'string' ||
      glob === ''
    ) {
      throw new ConfigError(
        `Expected each of \`${name}\` to be { exclude: GLOB } or { include: GLOB } with a non-empty glob, got ${JSON.stringify(f)}`,
      );
    }
  }
  return filters as readonly PathFilter[];
}

/**
 * `aws s3`'s filter rule: a file is excluded when the last filter that matches it is an
 * `exclude`. Globs as picomatch reads them with `bash` (a `*` also matches `/`, as
 * Python's fnmatch does for `aws s3`) and `dot` (a `*` matches names starting with `.`).
 */
function compileFilters(filters: readonly PathFilter[]): (rel: string) => boolean {
  const compiled = filters.map((f) => ({
    exclude: 'exclude' in f,
    test: picomatch('exclude' in f ? f.exclude : f.include, { bash: true, dot: true }),
  }));
  return (rel) => {
    for (let i = compiled.length - 1; i >= 0; i--) {
      const f = compiled[i];
      if (f?.test(rel) === true) return f.exclude;
    }
    return false;
  };
}

/**
 * The matcher of a sync: the exclude patterns (which prune directories too), then the
 * glob filters (files only: a later `include` may take back a file under an excluded-looking
 * directory).
 */
export function compileMatcher(
  patterns: readonly string[],
  filters: readonly PathFilter[] = [],
): ExcludeMatcher {
  const excluded = compileExcludes(patterns);
  if (filters.length === 0) return excluded;
  const filtered = compileFilters(filters);
  return (rel, directory) => excluded(rel) || (directory !== true && filtered(rel));
}
